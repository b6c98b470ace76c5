using System.Collections.Concurrent;
using System.Text;
using Jint;
using Jint.Constraints;
using Jint.Native;
using Jint.Native.Object;
using Jint.Runtime;
using Jint.Runtime.Modules;
using Microsoft.Extensions.Logging;
using AstModule = Acornima.Ast.Module;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// The app's Auth.js <c>callbacks</c> (<c>SessionCache:CallbacksModule</c>), run in Jint as Auth.js'
/// session action runs them on <c>GET /session</c>. A module of ours (<see cref="GlueSource"/>) does
/// what Auth.js does around them (the default callbacks, the default session object, the rule that a
/// <c>null</c> token is no session), so that only strings cross between .NET and JavaScript.
/// The sandbox: no CLR, no imports, no <c>eval</c>, and per resolution a time budget, an allocation
/// limit, a statement limit and a recursion limit. Engines are not thread-safe; each resolution rents
/// one from a small pool, and one that hit a limit is thrown away.
/// </summary>
internal sealed partial class JavaScriptCallbacks : ISessionShaper, IDisposable
{
    private const string AppModule = "sessioncache:callbacks";
    private const string GlueModule = "sessioncache:glue";
    private const int MaxStatements = 5_000_000;
    private const int MaxRecursion = 256;
    private const uint MaxArrayLength = 1_000_000;
    private const int MaxJsonDepth = 256;
    private const int MaxResultDepth = 128;
    private const int MaxResultNodes = 100_000;

    // What we wrap the app's callbacks in: Auth.js' session action (lib/actions/session.ts) with the
    // defaults of lib/init.ts, for a plain GET (no trigger, no user, session undefined). Auth.js merges
    // the app's callbacks over its defaults and calls them as methods of the merged object. The
    // results are serialized on the .NET side (see Serialize).
    private const string GlueSource = """
        import * as exported from "sessioncache:callbacks";
        const callbacks = {
          jwt({ token }) { return token; },
          session({ session }) {
            return {
              user: { name: session.user?.name, email: session.user?.email, image: session.user?.image },
              expires: session.expires?.toISOString?.() ?? session.expires,
            };
          },
          ...exported.callbacks,
        };
        const builtins = new Set(["Error", "TypeError", "RangeError", "SyntaxError", "ReferenceError", "EvalError", "URIError", "AggregateError"]);
        const kind = (v) => v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
        const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
        // By built-in name only: an app's own error names and messages can carry the user.
        const failed = (callback, e) => ({ failure: callback, error: "threw " + (e instanceof Error ? (builtins.has(e.name) ? e.name : "Error") : kind(e)) });
        const revive = (row, dates) => { for (const k of dates) if (typeof row[k] === "string") row[k] = new Date(row[k]); return row; };
        const shaped = (result) => isObject(result) ? { session: result } : { failure: "session", error: "returned " + kind(result) };

        export async function jwtSession(payload, expires) {
          let token;
          try { token = await callbacks.jwt({ token: JSON.parse(payload), session: undefined }); }
          catch (e) { return failed("jwt", e); }
          if (token === null) return { failure: "jwt", error: "returned null", expected: true };
          if (!isObject(token)) return { failure: "jwt", error: "returned " + kind(token) };
          let result;
          try { result = await callbacks.session({ session: { user: { name: token.name, email: token.email, image: token.picture }, expires }, token }); }
          catch (e) { return failed("session", e); }
          const session = shaped(result);
          return session.failure ? session : { session: session.session, token };
        }

        export async function databaseSession(sessionRow, sessionDates, userRow, userDates) {
          const user = revive(JSON.parse(userRow), JSON.parse(userDates));
          const row = revive(JSON.parse(sessionRow), JSON.parse(sessionDates));
          let result;
          try { result = await callbacks.session({ session: { ...row, user }, user, newSession: undefined }); }
          catch (e) { return failed("session", e); }
          return shaped(result);
        }
        """;

    private readonly Prepared<AstModule> _app;
    private readonly Prepared<AstModule> _glue;
    private readonly TimeSpan _timeLimit;
    private readonly long _memoryLimit;
    private readonly ILogger _logger;
    private readonly ConcurrentBag<Sandbox> _idle = [];
    private readonly int _maxIdle = Math.Max(2, Environment.ProcessorCount * 2);

    private JavaScriptCallbacks(Prepared<AstModule> app, Prepared<AstModule> glue, TimeSpan timeLimit, long memoryLimit, ILogger logger)
    {
        _app = app;
        _glue = glue;
        _timeLimit = timeLimit;
        _memoryLimit = memoryLimit;
        _logger = logger;
    }

    /// <summary>
    /// Loads and checks the module: it must parse, import nothing, evaluate without throwing within
    /// the limits, and export <c>callbacks</c> as an object whose <c>jwt</c> and <c>session</c>, where
    /// present, are functions. The message of the exception names the key and the file.
    /// </summary>
    /// <exception cref="SessionShapingException">The module cannot serve as the app's callbacks.</exception>
    public static JavaScriptCallbacks Load(string path, TimeSpan timeLimit, long memoryLimit, ILogger logger)
    {
        const string Key = "SessionCache:CallbacksModule";
        string source;
        try
        {
            source = File.ReadAllText(path, Encoding.UTF8);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new SessionShapingException($"{Key} names '{path}', which cannot be read: {exception.Message}");
        }

        Prepared<AstModule> app;
        try
        {
            app = Engine.PrepareModule(source, Path.GetFileName(path));
        }
        catch (ScriptPreparationException exception)
        {
            var where = exception.InnerException is Acornima.ParseErrorException parse ? $" at line {parse.LineNumber}, column {parse.Column}" : string.Empty;
            throw new SessionShapingException($"{Key} names '{path}', which is not a valid JavaScript module{where}: {(exception.InnerException as Acornima.ParseErrorException)?.Description ?? exception.Message}");
        }

        var callbacks = new JavaScriptCallbacks(app, Engine.PrepareModule(GlueSource, GlueModule), timeLimit, memoryLimit, logger);
        Sandbox? sandbox = null;
        try
        {
            sandbox = callbacks.CreateSandbox();
            var exported = sandbox.Engine.Modules.Import(AppModule).Get("callbacks");
            if (!exported.IsObject() || exported.IsArray())
            {
                throw new SessionShapingException($"{Key} names '{path}', which does not export `callbacks` as an object: write `export const callbacks = {{ jwt, session }}` and pass the same object to Auth.js.");
            }

            foreach (var name in (string[])["jwt", "session"])
            {
                var callback = exported.AsObject().Get(name);
                if (!callback.IsUndefined() && callback is not Jint.Native.Function.Function)
                {
                    throw new SessionShapingException($"{Key} names '{path}', whose `callbacks.{name}` is not a function.");
                }
            }

            // Compiles Jint's paths for a call before the first resolution, on an engine then thrown
            // away so that nothing the module keeps at its top level carries over from the warm-up.
            sandbox.Deadline.Begin(ImportBudget(timeLimit), CancellationToken.None);
            try
            {
                sandbox.Engine.Call(sandbox.JwtSession, JsValue.Undefined, ["""{"sub":"sessioncache-warm-up"}""", "1970-01-01T00:00:00.000Z"]);
                sandbox.Engine.Advanced.ProcessTasks();
            }
            catch (Exception exception) when (IsScriptFailure(exception))
            {
                // A callback that fails on a token without claims is the app's business.
            }
            finally
            {
                sandbox.Deadline.End();
            }
        }
        catch (ModuleResolutionException exception)
        {
            throw new SessionShapingException($"{Key} names '{path}', which imports '{exception.Specifier}': the callbacks run sandboxed and may import nothing; keep them pure functions of their arguments (for callbacks that need other code, a database or fetch, use proxy mode).");
        }
        catch (Exception exception) when (IsScriptFailure(exception))
        {
            throw new SessionShapingException($"{Key} names '{path}', whose top level fails when evaluated: {Describe(exception)}. The callbacks run without Node's globals (process, require, fetch, Buffer).");
        }
        finally
        {
            sandbox?.Dispose();
        }

        return callbacks;
    }

    public ShapedSession ShapeJwt(byte[] token, string expires, ReadOnlySpan<byte> defaultSession)
    {
        var shaped = Run(sandbox => sandbox.Engine.Call(sandbox.JwtSession, JsValue.Undefined, [Encoding.UTF8.GetString(token), expires]));

        // The token to re-issue is kept only where the jwt callback changed it.
        return shaped.Token is { } reissued && reissued.AsSpan().SequenceEqual(token) ? shaped with { Token = null } : shaped;
    }

    public ShapedSession ShapeDatabase(DatabaseRow session, DatabaseRow user, ReadOnlySpan<byte> defaultSession) =>
        Run(sandbox => sandbox.Engine.Call(sandbox.DatabaseSession, JsValue.Undefined,
            [Encoding.UTF8.GetString(session.Json), DateList(session), Encoding.UTF8.GetString(user.Json), DateList(user)]));

    private static string DateList(DatabaseRow row) =>
        "[" + string.Join(',', row.DateColumns.Select(static c => "\"" + System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping.Encode(c) + "\"")) + "]";

    private ShapedSession Run(Func<Sandbox, JsValue> call)
    {
        Sandbox? sandbox = null;
        var keep = true;
        try
        {
            if (!_idle.TryTake(out sandbox))
            {
                sandbox = CreateSandbox();
            }

            sandbox.Deadline.Begin(_timeLimit, CancellationToken.None);
            try
            {
                var promise = call(sandbox);
                sandbox.Engine.Advanced.ProcessTasks();

                // Callbacks get no timers and no I/O: once the job queue is empty, a promise still
                // pending never settles (an already cancelled token makes the unwrap not wait).
                var outcome = promise.UnwrapIfPromise(new CancellationToken(canceled: true));
                return Answer(sandbox, outcome);
            }
            finally
            {
                sandbox.Deadline.End();
            }
        }
        catch (Exception exception) when (IsScriptFailure(exception) || exception is OperationCanceledException)
        {
            // A limit leaves the engine mid-script; never hand it out again.
            keep = false;
            var kind = exception is OperationCanceledException ? "a promise that never settles" : Describe(exception);
            LogCallbackAborted(_logger, kind);

            // Time is the host's as much as the script's (a pause, a busy core): running out of it
            // is not the app saying "no session", so it is not answered as one (the cookie stays,
            // nothing is cached). Every other limit is the script's own doing, as a throw would be.
            return exception is TimeoutException
                ? ShapedSession.TimedOut($"the callbacks ran out of time ({_timeLimit.TotalMilliseconds:0} ms)")
                : ShapedSession.Failed($"the callbacks failed ({kind})");
        }
        finally
        {
            if (sandbox is not null && keep && _idle.Count < _maxIdle)
            {
                _idle.Add(sandbox);
            }
            else
            {
                sandbox?.Dispose();
            }
        }
    }

    private ShapedSession Answer(Sandbox sandbox, JsValue outcome)
    {
        var answer = outcome.IsObject() ? outcome.AsObject() : null;
        if (answer?.Get("failure") is { } failure && failure.IsString())
        {
            var error = answer.Get("error").ToString();
            if (answer.Get("expected").IsBoolean())
            {
                // A jwt callback returning null is how an app signs a session out.
                LogCallbackDeclined(_logger, failure.AsString(), error);
            }
            else
            {
                LogCallbackFailed(_logger, failure.AsString(), error);
            }

            return ShapedSession.Failed($"the {failure.AsString()} callback {error}");
        }

        if (answer is null || Serialize(sandbox.Engine, answer.Get("session")) is not { } session)
        {
            LogCallbackFailed(_logger, "session", "returned a value that is not a JSON object, or one nested too deeply");
            return ShapedSession.Failed("the session callback returned a value that is not a JSON object, or one nested too deeply");
        }

        var token = answer.Get("token");
        if (token.IsUndefined())
        {
            return ShapedSession.Of(session, null);
        }

        if (Serialize(sandbox.Engine, token) is not { } reissued)
        {
            LogCallbackFailed(_logger, "jwt", "returned a value that is not a JSON object, or one nested too deeply");
            return ShapedSession.Failed("the jwt callback returned a value that is not a JSON object, or one nested too deeply");
        }

        return ShapedSession.Of(session, reissued);
    }

    /// <summary>
    /// <c>JSON.stringify</c> of a callback's result as UTF-8, or <see langword="null"/> when it is not
    /// a JSON object or is nested deeper than Auth.js' own uses ever go. Jint's serializer recurses on
    /// this thread's stack, so the depth is checked first, without recursion, through <c>toJSON</c>
    /// where a value has one.
    /// </summary>
    private static byte[]? Serialize(Engine engine, JsValue value)
    {
        var pending = new Stack<(JsValue Value, int Depth)>();
        pending.Push((value, 1));
        var seen = 0;
        while (pending.TryPop(out var item))
        {
            // JSON.stringify leaves functions out, so their members (a prototype, its constructor) are no part of the result.
            if (item.Value is not ObjectInstance node || node is Jint.Native.Function.Function)
            {
                continue;
            }

            if (node.Get("toJSON") is Jint.Native.Function.Function toJson)
            {
                if (engine.Call(toJson, node, [JsString.Empty]) is not ObjectInstance converted)
                {
                    continue;
                }

                node = converted;
            }

            if (item.Depth > MaxResultDepth || ++seen > MaxResultNodes)
            {
                return null;
            }

            foreach (var key in node.GetOwnPropertyKeys(Types.String))
            {
                pending.Push((node.Get(key), item.Depth + 1));
            }
        }

        var json = new Jint.Native.Json.JsonSerializer(engine).Serialize(value);
        return json.IsString() && json.AsString() is { Length: > 0 } text && text[0] == '{' ? Encoding.UTF8.GetBytes(text) : null;
    }

    // Importing the module runs its top level; the first import in a process also compiles Jint itself.
    private static TimeSpan ImportBudget(TimeSpan timeLimit) => timeLimit > TimeSpan.FromSeconds(2) ? timeLimit : TimeSpan.FromSeconds(2);

    private Sandbox CreateSandbox()
    {
        var deadline = new OperationDeadlineConstraint();
        var options = new Options();
        options.EnableModules(new Loader(_app, _glue));
        options.Strict();
        options.DisableStringCompilation();
        options.LimitRecursion(MaxRecursion);
        options.Constraints.StackOverflowGuard = true;
        options.MaxStatements(MaxStatements);
        options.LimitMemory(_memoryLimit);
        options.MaxArraySize(MaxArrayLength);
        options.MaxJsonParseDepth(MaxJsonDepth);
        options.RegexTimeoutInterval(_timeLimit);
        options.LocalTimeZone(TimeZoneInfo.Utc);

        // The time limit covers a whole resolution (the call, then its promise jobs), not each entry.
        options.Constraint(deadline);
        var engine = new Engine(options);
        try
        {
            // Apps log from their callbacks; here console goes nowhere, since what they log is often the token or the user.
            engine.Execute("globalThis.console = Object.freeze({ log() {}, info() {}, warn() {}, error() {}, debug() {} });");
            deadline.Begin(ImportBudget(_timeLimit), CancellationToken.None);
            try
            {
                var glue = engine.Modules.Import(GlueModule);
                return new Sandbox(engine, deadline, glue.Get("jwtSession"), glue.Get("databaseSession"));
            }
            finally
            {
                deadline.End();
            }
        }
        catch
        {
            engine.Dispose();
            throw;
        }
    }

    private static bool IsScriptFailure(Exception exception) =>
        exception is JintException or JavaScriptException or PromiseRejectedException or TimeoutException;

    /// <summary>A failure by kind, never by message: a callback's error can quote the token or the user.</summary>
    private static string Describe(Exception exception) => exception switch
    {
        TimeoutException => "time limit exceeded",
        StatementsCountOverflowException => "statement limit exceeded",
        MemoryLimitExceededException => "memory limit exceeded",
        RecursionDepthOverflowException => "recursion limit exceeded",
        JavaScriptException js when js.Error.IsObject() && js.Error.AsObject().Get("name") is { } name && name.IsString()
            => $"{name.AsString()} at {Where(js)}",
        JavaScriptException js => $"a thrown value at {Where(js)}",
        PromiseRejectedException => "a rejected promise",
        _ => exception.GetType().Name,
    };

    private static string Where(JavaScriptException exception) =>
        $"{exception.Location.SourceFile}, line {exception.Location.Start.Line}, column {exception.Location.Start.Column}";

    public void Dispose()
    {
        while (_idle.TryTake(out var sandbox))
        {
            sandbox.Dispose();
        }
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Auth.js {Callback} callback {Error}: no session, as Auth.js answers")]
    private static partial void LogCallbackFailed(ILogger logger, string callback, string error);

    [LoggerMessage(EventId = 1204, Level = LogLevel.Debug, Message = "Auth.js {Callback} callback {Outcome}: no session, as Auth.js answers")]
    private static partial void LogCallbackDeclined(ILogger logger, string callback, string outcome);

    [LoggerMessage(EventId = 1202, Level = LogLevel.Warning, Message = "Auth.js callbacks stopped: {Reason}; no session, as Auth.js answers")]
    private static partial void LogCallbackAborted(ILogger logger, string reason);

    /// <summary>One engine with the modules imported and the two entry points at hand.</summary>
    private sealed class Sandbox(Engine engine, OperationDeadlineConstraint deadline, JsValue jwtSession, JsValue databaseSession) : IDisposable
    {
        public Engine Engine { get; } = engine;

        public OperationDeadlineConstraint Deadline { get; } = deadline;

        public JsValue JwtSession { get; } = jwtSession;

        public JsValue DatabaseSession { get; } = databaseSession;

        public void Dispose() => Engine.Dispose();
    }

    /// <summary>Serves our glue module and the app's module, and refuses every other import.</summary>
    private sealed class Loader(Prepared<AstModule> app, Prepared<AstModule> glue) : IModuleLoader
    {
        public ResolvedSpecifier Resolve(string? referencingModuleLocation, ModuleRequest moduleRequest) =>
            moduleRequest.Specifier is AppModule or GlueModule
                ? new ResolvedSpecifier(moduleRequest, moduleRequest.Specifier, null, SpecifierType.Bare)
                : throw new ModuleResolutionException("the callbacks module may import nothing", moduleRequest.Specifier, referencingModuleLocation, null);

        public Jint.Runtime.Modules.Module LoadModule(Engine engine, ResolvedSpecifier resolved) =>
            resolved.Key == AppModule ? ModuleFactory.BuildSourceTextModule(engine, in app) : ModuleFactory.BuildSourceTextModule(engine, in glue);
    }
}
