using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace SessionCache.AuthJs.Internals;

/// <summary>
/// Local mode, database strategy: reads the session and its user through the Auth.js adapter's
/// tables (<c>@auth/pg-adapter</c>'s <c>sessions</c> and <c>users</c>), deletes an expired session,
/// and extends a session's expiry when it is due, as Auth.js' session handler does.
/// </summary>
internal sealed partial class DatabaseSessionSource : ISessionSource, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DatabaseSessionOptions _options;
    private readonly string[] _cookieNames;
    private readonly string _selectSql;
    private readonly string _deleteSql;
    private readonly string _extendSql;
    private readonly string _deleteUserSql;
    private readonly string _sessionRowSql;
    private readonly string _userRowSql;
    private readonly SessionCacheMetrics? _metrics;
    private readonly ISessionShaper? _shaper;

    public DatabaseSessionSource(SessionCacheOptions options, TimeProvider time, ILogger<DatabaseSessionSource> logger, SessionCacheMetrics? metrics = null, ISessionShaper? shaper = null)
    {
        _metrics = metrics;
        _shaper = shaper;
        _options = options.Database;
        _time = time;
        _logger = logger;
        _cookieNames = _options.CookieName is { Length: > 0 } custom
            ? [custom]
            : ["__Secure-authjs.session-token", "authjs.session-token", "__Secure-next-auth.session-token", "next-auth.session-token"];

        // Validated at start; the names are quoted identifiers, never request input.
        SqlIdentifier.TryQuote(_options.SessionsTable, out var sessions);
        SqlIdentifier.TryQuote(_options.UsersTable, out var users);
        _selectSql = $"""
            SELECT s."userId", s.expires, u.id IS NOT NULL, u.name, u.email, u.image
            FROM {sessions} s LEFT JOIN {users} u ON u.id = s."userId"
            WHERE s."sessionToken" = $1
            LIMIT 1
            """;
        _deleteSql = $"""DELETE FROM {sessions} WHERE "sessionToken" = $1""";
        _extendSql = $"""UPDATE {sessions} SET expires = $2 WHERE "sessionToken" = $1""";
        _deleteUserSql = $"""DELETE FROM {sessions} WHERE "userId" = $1""";

        // What @auth/pg-adapter's getSessionAndUser hands the session callback: both rows, every column.
        _sessionRowSql = $"""SELECT * FROM {sessions} WHERE "sessionToken" = $1 LIMIT 1""";
        _userRowSql = $"""SELECT u.* FROM {users} u JOIN {sessions} s ON u.id = s."userId" WHERE s."sessionToken" = $1 LIMIT 1""";

        var builder = new NpgsqlDataSourceBuilder(options.ConnectionString);
        _dataSource = builder.Build();
    }

    public async ValueTask<SessionLookupResult> ResolveAsync(SessionRequest request, CancellationToken cancellationToken)
    {
        var token = string.Empty;
        foreach (var name in _cookieNames)
        {
            token = CookieReader.ReadSessionToken(request, name);
            if (token.Length > 0)
            {
                break;
            }
        }

        if (token.Length == 0)
        {
            return SessionLookupResult.NoSession;
        }

        _metrics?.UpstreamCalled();
        try
        {
            return await LookupAsync(token, cancellationToken);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            _metrics?.UpstreamFailed();
            var retryable = exception is not NpgsqlException npgsql || npgsql.IsTransient;

            // Only the type and SQL state: a server message's detail can quote row values.
            LogDatabaseFailed(_logger, exception.GetType().Name, (exception as PostgresException)?.SqlState ?? "-", retryable);
            return SessionLookupResult.UpstreamFailure("session database unavailable", retryable);
        }
    }

    /// <summary>
    /// Why this process cannot resolve database sessions (database unreachable, refused login,
    /// tables or columns missing), naming the setting to fix; <see langword="null"/> when it can.
    /// Runs the lookup query itself, for a token that cannot exist.
    /// </summary>
    public async Task<string?> ProblemAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var select = new NpgsqlCommand(_selectSql, connection);
            select.Parameters.Add(new NpgsqlParameter { Value = string.Empty });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            return null;
        }
        catch (PostgresException exception) when (exception.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.UndefinedColumn)
        {
            return $"The session database has no Auth.js adapter tables as configured (SessionCache:Database:SessionsTable '{_options.SessionsTable}', " +
                $"SessionCache:Database:UsersTable '{_options.UsersTable}'): {exception.MessageText}. Create them with @auth/pg-adapter's schema, or name your tables.";
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException or SocketException)
        {
            // The message, not the connection string: Npgsql's messages do not quote passwords.
            var reason = exception is PostgresException postgres ? postgres.MessageText : exception.Message;
            return $"Cannot reach the session database (SessionCache:ConnectionString): {reason}";
        }
    }

    /// <summary>
    /// Deletes every session row of a user, so that Auth.js refuses them too, including sessions
    /// the cluster never saw. A user id the column cannot hold (text for an integer column) has no rows.
    /// </summary>
    /// <returns>The number of rows deleted.</returns>
    /// <exception cref="SessionStoreException">The database could not be reached or refused the delete.</exception>
    public async Task<int> DeleteUserSessionsAsync(string userId, CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            await using var delete = new NpgsqlCommand(_deleteUserSql, connection);

            // Untyped: PostgreSQL reads the text as the column's own type (integer for @auth/pg-adapter, text or uuid elsewhere).
            delete.Parameters.Add(new NpgsqlParameter { Value = userId, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Unknown });
            return await delete.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException exception) when (exception.SqlState is PostgresErrorCodes.InvalidTextRepresentation or PostgresErrorCodes.NumericValueOutOfRange)
        {
            return 0;
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            var failure = exception.GetType().Name + (exception is PostgresException postgres ? ", SQL state " + postgres.SqlState : string.Empty);
            LogDeleteFailed(_logger, failure);
            throw new SessionStoreException($"The user's sessions could not be deleted from the session database ({failure})", exception);
        }
    }

    private async Task<SessionLookupResult> LookupAsync(string token, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        string userId;
        DateTimeOffset expires;
        bool userExists;
        string? name, email, image;
        await using (var select = new NpgsqlCommand(_selectSql, connection))
        {
            select.Parameters.Add(new NpgsqlParameter { Value = token });
            await using var reader = await select.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return SessionLookupResult.NoSession;
            }

            userId = Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture) ?? string.Empty;
            expires = new DateTimeOffset(DateTime.SpecifyKind(reader.GetDateTime(1), DateTimeKind.Utc));
            userExists = reader.GetBoolean(2);
            name = reader.IsDBNull(3) ? null : reader.GetString(3);
            email = reader.IsDBNull(4) ? null : reader.GetString(4);
            image = reader.IsDBNull(5) ? null : reader.GetString(5);
        }

        var now = _time.GetUtcNow();
        if (expires < now)
        {
            await using var delete = new NpgsqlCommand(_deleteSql, connection);
            delete.Parameters.Add(new NpgsqlParameter { Value = token });
            await delete.ExecuteNonQueryAsync(cancellationToken);
            LogExpiredSessionDeleted(_logger);
            return SessionLookupResult.Expired("session expired");
        }

        // The adapter answers "no session" when the session's user is gone.
        if (!userExists)
        {
            return SessionLookupResult.NoSession;
        }

        // The rows as the adapter read them, before an update: Auth.js' session callback gets those.
        (DatabaseRow? Session, DatabaseRow? User) rows = default;
        if (_shaper is not null)
        {
            rows = await ReadRowsAsync(connection, token, cancellationToken);
            if (rows.Session is null || rows.User is null)
            {
                // Signed out (deleted) between the two reads.
                return SessionLookupResult.NoSession;
            }
        }

        // Auth.js writes a new expiry at most once per updateAge: when (expires - maxAge + updateAge) has passed.
        if (_options.ExtendSessions && expires - _options.SessionMaxAge + _options.UpdateAge <= now)
        {
            await using var extend = new NpgsqlCommand(_extendSql, connection);
            extend.Parameters.Add(new NpgsqlParameter { Value = token });
            extend.Parameters.Add(new NpgsqlParameter { Value = (now + _options.SessionMaxAge).UtcDateTime });
            await extend.ExecuteNonQueryAsync(cancellationToken);
        }

        // Auth.js answers with the expiry it read, not the one it may just have written.
        var json = SessionJson.Write(JsonString(name), JsonString(email), JsonString(image), SessionJson.ToIsoString(expires));
        if (_shaper is not null)
        {
            var shaped = _shaper.ShapeDatabase(rows.Session!, rows.User!, json);
            if (shaped.Transient)
            {
                return SessionLookupResult.UpstreamFailure(shaped.Failure ?? "the callbacks ran out of time", retryable: true);
            }

            if (shaped.Session is not { } shapedJson || !SessionShaping.TryParse(shapedJson, out var shapedSession))
            {
                LogShapingFailed(_logger, shaped.Failure ?? "not a JSON object");
                return SessionLookupResult.Invalid(shaped.Failure ?? "the shaped session is not a JSON object");
            }

            return SessionLookupResult.Found(shapedSession, userId, issuedAt: null, validUntil: expires);
        }

        using var document = JsonDocument.Parse(json);
        return SessionLookupResult.Found(AuthJsSession.FromDocument(document.RootElement, json), userId, issuedAt: null, validUntil: expires);
    }

    private async Task<(DatabaseRow? Session, DatabaseRow? User)> ReadRowsAsync(NpgsqlConnection connection, string token, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        foreach (var sql in (string[])[_sessionRowSql, _userRowSql])
        {
            var command = new NpgsqlBatchCommand(sql);
            command.Parameters.Add(new NpgsqlParameter { Value = token });
            batch.BatchCommands.Add(command);
        }

        await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
        var session = await reader.ReadAsync(cancellationToken) ? RowJson.Read(reader) : null;
        await reader.NextResultAsync(cancellationToken);
        var user = await reader.ReadAsync(cancellationToken) ? RowJson.Read(reader) : null;
        return (session, user);
    }

    // Database NULLs are JSON nulls in Auth.js' answer.
    private static JsonElement JsonString(string? value) =>
        value is null ? NullElement : JsonSerializer.SerializeToElement(value);

    private static readonly JsonElement NullElement = JsonSerializer.SerializeToElement<string?>(null);

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Session database failed ({ExceptionType}, SQL state {SqlState}, retryable: {Retryable})")]
    private static partial void LogDatabaseFailed(ILogger logger, string exceptionType, string sqlState, bool retryable);

    [LoggerMessage(EventId = 1104, Level = LogLevel.Debug, Message = "Database session not shaped: {Reason}")]
    private static partial void LogShapingFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "Expired database session deleted")]
    private static partial void LogExpiredSessionDeleted(ILogger logger);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Warning, Message = "A signed-out user's database sessions could not be deleted ({Failure}); the sign-out fails and is retried")]
    private static partial void LogDeleteFailed(ILogger logger, string failure);
}

/// <summary>The session database could not do what a sign-out needs; the message names the failure by type, never by data.</summary>
internal sealed class SessionStoreException(string message, Exception innerException) : Exception(message, innerException);
