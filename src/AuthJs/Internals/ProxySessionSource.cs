using System.Runtime.CompilerServices;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Proxy mode: asks the configured Auth.js server's <c>GET &lt;base&gt;/session</c>, forwarding only
/// the session cookies, without following redirects, with a per-attempt timeout, bounded jittered
/// retries on transient failures and a circuit breaker. Anything but a <c>200</c> with JSON is an
/// upstream error, never "no session".
/// </summary>
internal sealed partial class ProxySessionSource : ISessionSource
{
    public const string HttpClientName = "SessionCache.AuthJs.Upstream";

    private readonly IHttpClientFactory _httpClients;
    private readonly ILogger _logger;
    private readonly Uri _sessionEndpoint;
    private readonly ProxySessionOptions _options;
    private readonly string[] _cookieNames;
    private readonly string[] _userIdPath;
    private readonly string[] _signedInAtPath;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly SessionCacheMetrics? _metrics;

    public ProxySessionSource(SessionCacheOptions options, IHttpClientFactory httpClients, TimeProvider time, ILogger<ProxySessionSource> logger, SessionCacheMetrics? metrics = null)
    {
        _metrics = metrics;
        _httpClients = httpClients;
        _logger = logger;
        _options = options.Proxy;
        var upstream = options.Upstream!.ToString();
        _sessionEndpoint = new Uri(upstream.TrimEnd('/') + "/session");
        _cookieNames = [.. SessionKeys.StandardCookieNames, .. _options.CookieNames];
        _userIdPath = _options.UserIdField.Split('.');
        _signedInAtPath = _options.SignedInAtField.Split('.');
        _time = time;

        // Outermost the whole lookup's budget, then retries, then the breaker that counts each
        // attempt, then each attempt's own timeout.
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = time }.AddTimeout(_options.TotalTimeout);
        if (_options.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = _options.MaxRetries,
                Delay = _options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                MaxDelay = TimeSpan.FromSeconds(2),
                ShouldHandle = static args => ValueTask.FromResult(IsTransient(args.Outcome)),
            });
        }

        _pipeline = builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                FailureRatio = _options.CircuitFailureRatio,
                MinimumThroughput = _options.CircuitMinimumThroughput,
                SamplingDuration = _options.CircuitSamplingDuration,
                BreakDuration = _options.CircuitBreakDuration,
                ShouldHandle = static args => ValueTask.FromResult(IsTransient(args.Outcome)),
            })
            .AddTimeout(_options.AttemptTimeout)
            .Build();
    }

    public async ValueTask<SessionLookupResult> ResolveAsync(SessionRequest request, CancellationToken cancellationToken)
    {
        var cookieHeader = SessionCookieHeader(request);
        if (cookieHeader is null)
        {
            // Auth.js answers null without a session cookie; there is nothing to ask.
            return SessionLookupResult.NoSession;
        }

        // Counted here, where it is known whether a request left (an open circuit sends none).
        var sent = new StrongBox<bool>();
        var result = await AskAsync(cookieHeader, sent, cancellationToken);
        if (sent.Value)
        {
            _metrics?.UpstreamCalled();
        }

        if (result.Status == SessionLookupStatus.UpstreamError)
        {
            _metrics?.UpstreamFailed();
        }

        return result;
    }

    private async ValueTask<SessionLookupResult> AskAsync(string cookieHeader, StrongBox<bool> sent, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _pipeline.ExecuteAsync(
                static async (state, token) =>
                {
                    state.Sent.Value = true;
                    using var message = new HttpRequestMessage(HttpMethod.Get, state.Self._sessionEndpoint);
                    message.Headers.TryAddWithoutValidation("Cookie", state.Cookie);
                    message.Headers.Accept.ParseAdd("application/json");
                    foreach (var (name, value) in state.Self._options.Headers)
                    {
                        message.Headers.TryAddWithoutValidation(name, value);
                    }

                    var client = state.Self._httpClients.CreateClient(HttpClientName);
                    return await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, token);
                },
                (Self: this, Cookie: cookieHeader, Sent: sent),
                cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (BrokenCircuitException)
        {
            LogCircuitOpen(_logger);
            return SessionLookupResult.UpstreamFailure("upstream circuit open", retryable: true);
        }
        catch (TimeoutRejectedException)
        {
            LogUpstreamFailed(_logger, "timeout");
            return SessionLookupResult.UpstreamFailure("upstream timed out", retryable: true);
        }
        catch (HttpRequestException exception)
        {
            LogUpstreamFailed(_logger, exception.HttpRequestError.ToString());
            return SessionLookupResult.UpstreamFailure($"upstream unreachable ({exception.HttpRequestError})", retryable: true);
        }

        using (response)
        {
            return await ReadAsync(response, cancellationToken);
        }
    }

    private async Task<SessionLookupResult> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        if (response.StatusCode != HttpStatusCode.OK)
        {
            LogUpstreamStatus(_logger, status);
            var retryable = IsTransientStatus(response.StatusCode);
            var hint = status is >= 300 and < 400 ? " (a redirect: check SessionCache:Upstream points at the Auth.js base path)" : string.Empty;
            return SessionLookupResult.UpstreamFailure($"upstream answered {status}{hint}", retryable);
        }

        byte[] body;
        try
        {
            body = await ReadBodyAsync(response, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception exception) when (exception is HttpRequestException or IOException or OperationCanceledException or InvalidDataException)
        {
            LogUpstreamFailed(_logger, "body unreadable");
            return SessionLookupResult.UpstreamFailure("upstream answer unreadable", retryable: true);
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            LogUpstreamFailed(_logger, "invalid JSON");
            return SessionLookupResult.UpstreamFailure("upstream answered invalid JSON", retryable: false);
        }

        using (document)
        {
            var root = document.RootElement;
            switch (root.ValueKind)
            {
                case JsonValueKind.Null:
                    return SessionLookupResult.NoSession;
                case JsonValueKind.Object when !root.EnumerateObject().Any():
                    // NextAuth.js v4 answers {} without a session.
                    return SessionLookupResult.NoSession;
                case JsonValueKind.Object:
                    if (!TrySignedInAt(root, out var signedInAt))
                    {
                        // A sign-in time the cluster cannot trust would let a signed-out session look new.
                        LogUpstreamFailed(_logger, "sign-in time field is not a past time");
                        return SessionLookupResult.Invalid("the session's sign-in time field is not a time in the past");
                    }

                    var session = AuthJsSession.FromDocument(root, body);
                    return SessionLookupResult.Found(session, UserId(root), issuedAt: null, validUntil: session.Expires, signedInAt);
                default:
                    LogUpstreamFailed(_logger, "unexpected JSON");
                    return SessionLookupResult.UpstreamFailure("upstream answered JSON that is not a session", retryable: false);
            }
        }
    }

    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.Content.Headers.ContentLength > _options.MaxResponseBytes)
        {
            throw new InvalidDataException("upstream answer too large");
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > _options.MaxResponseBytes)
            {
                throw new InvalidDataException("upstream answer too large");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>
    /// Reads <see cref="ProxySessionOptions.SignedInAtField"/>: Unix seconds or an ISO 8601 date.
    /// Absent or <c>null</c> is no sign-in time; anything else that is not a time up to now
    /// (Auth.js' 15 s clock tolerance allowed) is refused.
    /// </summary>
    private bool TrySignedInAt(JsonElement root, out DateTimeOffset? signedInAt)
    {
        signedInAt = null;
        if (!JsonPath.TryGet(root, _signedInAtPath, out var current))
        {
            return true;
        }

        DateTimeOffset value;
        switch (current.ValueKind)
        {
            case JsonValueKind.Null:
                return true;
            case JsonValueKind.Number when current.TryGetDouble(out var seconds) && seconds is > 0 and < 253_402_300_799d:
                value = DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
                break;
            case JsonValueKind.String when DateTimeOffset.TryParse(current.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var parsed):
                value = parsed;
                break;
            default:
                return false;
        }

        if (value > _time.GetUtcNow() + TimeSpan.FromSeconds(15))
        {
            return false;
        }

        signedInAt = value;
        return true;
    }

    private string? UserId(JsonElement root)
    {
        if (!JsonPath.TryGet(root, _userIdPath, out var current))
        {
            return null;
        }

        return current.ValueKind switch
        {
            JsonValueKind.String => current.GetString(),
            JsonValueKind.Number => current.GetRawText(),
            _ => null,
        };
    }

    /// <summary>The request's session cookies, and only those, as a <c>Cookie</c> header.</summary>
    private string? SessionCookieHeader(SessionRequest request)
    {
        StringBuilder? header = null;
        foreach (var (name, value) in CookieReader.Enumerate(request))
        {
            if (value.Length == 0 || !IsSessionCookie(name))
            {
                continue;
            }

            header ??= new StringBuilder();
            if (header.Length > 0)
            {
                header.Append("; ");
            }

            // Values were percent-decoded when read; encode them again the way Auth.js' serializer does.
            header.Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }

        return header?.ToString();
    }

    private bool IsSessionCookie(string name)
    {
        foreach (var prefix in _cookieNames)
        {
            if (name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsTransient(Outcome<HttpResponseMessage> outcome) => outcome switch
    {
        { Exception: HttpRequestException or TimeoutRejectedException } => true,
        { Result: { } response } => IsTransientStatus(response.StatusCode),
        _ => false,
    };

    private static bool IsTransientStatus(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Upstream Auth.js session endpoint failed: {Failure}")]
    private static partial void LogUpstreamFailed(ILogger logger, string failure);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Upstream Auth.js session endpoint answered {Status}")]
    private static partial void LogUpstreamStatus(ILogger logger, int status);

    [LoggerMessage(EventId = 1203, Level = LogLevel.Warning, Message = "Upstream circuit is open; failing lookups without calling upstream")]
    private static partial void LogCircuitOpen(ILogger logger);
}
