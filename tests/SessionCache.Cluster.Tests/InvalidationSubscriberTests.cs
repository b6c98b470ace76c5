using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SessionCache.Client;
using SessionCache.Client.Internals;
using SessionCache.Contracts;
using StackExchange.Redis;

namespace SessionCache.Cluster.Tests;

/// <summary>What the invalidation subscriber logs when it cannot subscribe.</summary>
[Trait("Category", "Unit")]
public sealed class InvalidationSubscriberTests
{
    [Fact]
    public async Task AFailedSubscriptionIsLoggedByTypeNeverByMessage()
    {
        // Redis' messages quote its configuration, password included; Orleans' name grains.
        const string Secret = "password=hunter2-in-a-message";
        var grains = FailingGrainFactory.Create(new RedisConnectionException(ConnectionFailureType.AuthenticationFailure, $"No connection to redis-host:6379,{Secret}"));
        var logger = new RecordingLogger();
        var options = Options.Create(new SessionCacheClientOptions());
        using var subscriber = new InvalidationSubscriber(grains, new NearCache(100, TimeProvider.System), options, logger);

        await subscriber.StartAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => logger.Lines.Any(static l => l.EventId == 3001), "the failed subscription to be logged");
        await subscriber.StopAsync(CancellationToken.None);

        var line = logger.Lines.First(static l => l.EventId == 3001);
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Contains(nameof(RedisConnectionException), line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", line.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("redis-host", line.Message, StringComparison.Ordinal);
        Assert.All(logger.Lines, static l => Assert.DoesNotContain("hunter2", l.Message, StringComparison.Ordinal));
    }

    private sealed record LogLine(int EventId, LogLevel Level, string Message);

    private sealed class RecordingLogger : ILogger<InvalidationSubscriber>
    {
        private readonly ConcurrentQueue<LogLine> _lines = new();

        public IReadOnlyCollection<LogLine> Lines => _lines;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // The whole record: the formatted message, every structured value and any attached exception.
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(' ', pairs.Select(static p => $"{p.Key}={p.Value}")) : string.Empty;
            _lines.Enqueue(new LogLine(eventId.Id, logLevel, $"{formatter(state, exception)} {values} {exception}"));
        }
    }

    /// <summary>A grain factory whose relays refuse every subscription with <c>failure</c>.</summary>
#pragma warning disable CA1852 // DispatchProxy derives a type from it: it must not be sealed.
    private class FailingGrainFactory : DispatchProxy
#pragma warning restore CA1852
    {
        private FailingHub _hub = null!;

        public static IGrainFactory Create(Exception failure)
        {
            var factory = Create<IGrainFactory, FailingGrainFactory>();
            ((FailingGrainFactory)(object)factory)._hub = new FailingHub(failure);
            return factory;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            nameof(IGrainFactory.GetGrain) => _hub,
            nameof(IGrainFactory.CreateObjectReference) => args![0],
            nameof(IGrainFactory.DeleteObjectReference) => null,
            _ => throw new NotSupportedException(targetMethod?.Name),
        };
    }

    private sealed class FailingHub(Exception failure) : IInvalidationRelayGrain, IRelayDirectoryGrain
    {
        public Task<RelayDirectory> GetRelaysAsync() => Task.FromResult(new RelayDirectory("silo-a", ["silo-a", "silo-b"]));

        public Task<SubscriptionAck> SubscribeAsync(ISessionCacheObserver observer) => Task.FromException<SubscriptionAck>(failure);

        public Task UnsubscribeAsync(ISessionCacheObserver observer) => Task.CompletedTask;

        public Task RecordAsync(InvalidationNotice[] notices) => Task.CompletedTask;

        public Task<TimeSpan> DeliverAsync(InvalidationNotice[] notices) => Task.FromResult(TimeSpan.Zero);

        public Task<TimeSpan[]> GetDeparturesAsync(string[] silos) => Task.FromResult(new TimeSpan[silos.Length]);
    }
}
