using System.Collections.Concurrent;
using System.Text;
using Jint;
using Jint.Constraints;
using Jint.Native;
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

    // What we wrap the app's callbacks in: Auth.js' session action (lib/actions/session.ts) with the
    // defaults of lib/init.ts, for a plain GET (no trigger, no user, session undefined).
    private const string GlueSource = """
        import * as exported from "sessioncache:callbacks";
        const app = exported.callbacks ?? {};
        const jwt = typeof app.jwt === "function" ? app.jwt : ({ token }) => token;
        const session = typeof app.session === "function" ? app.session : ({ session }) => ({
          user: { name: session.user?.name, email: session.user?.email, image: session.user?.image },
          expires: session.expires?.toISOString?.() ?? session.expires,
        });
        const kind = (v) => v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
        const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
        const failed = (callback, e) => ({ failure: callback, error: e instanceof Error ? e.name : kind(e) });
        const revive = (row, dates) => { for (const k of dates) if (typeof row[k] === "string") row[k] = new Date(row[k]); return row; };
        const shaped = (result, token) => isObject(result)
          ? { session: JSON.stringify(result), token: token === undefined ? undefined : JSON.stringify(token) }
          : { failure: "session", error: "returned " + kind(result) };

        export async function jwtSession(payload, expires) {
          let token;
          try { token = await jwt.call(app, { token: JSON.parse(payload), session: undefined }); }
          catch (e) { return failed("jwt", e); }
          if (token === null) return { failure: "jwt", error: "returned null" };
          if (!isObject(token)) return { failure: "jwt", error: "returned " + kind(token) };
          let result;
          try { result = await session.call(app, { session: { user: { name: token.name, email: token.email, image: token.picture }, expires }, token }); }
          catch (e) { return failed("session", e); }
          return shaped(result, token);
        }

        export async function databaseSession(sessionRow, sessionDates, userRow, userDates) {
          const user = revive(JSON.parse(userRow), JSON.parse(userDates));
          const row = revive(JSON.parse(sessionRow), JSON.parse(sessionDates));
          let result;
          try { result = await session.call(app, { session: { ...row, user }, user, newSession: undefined }); }
          catch (e) { return failed("session", e); }
          return shaped(result, undefined);
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

            callbacks._idle.Add(sandbox);
            sandbox = null;
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

    public ShapedSession ShapeJwt(byte[] token, string expires, ReadOnlySpan<byte> defaultSession) =>
        Run(sandbox => sandbox.Engine.Call(sandbox.JwtSession, JsValue.Undefined, [Encoding.UTF8.GetString(token), expires]));

    public ShapedSession ShapeDatabase(DatabaseRow session, DatabaseRow user, ReadOnlySpan<byte> defaultSession) =>
        Run(sandbox => sandbox.Engine.Call(sandbox.DatabaseSession, JsValue.Undefined,
            [Encoding.UTF8.GetString(session.Json), DateList(session), Encoding.UTF8.GetString(user.Json), DateList(user)]));

    private static string DateList(DatabaseRow row) =>
        "[" + string.Join(',', row.DateColumns.Select(static c => "\"" + System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping.Encode(c) + "\"")) + "]";

    private ShapedSession Run(Func<Sandbox, JsValue> call)
    {
        if (!_idle.TryTake(out var sandbox))
        {
            sandbox = CreateSandbox();
        }

        var keep = true;
        try
        {
            sandbox.Deadline.Begin(_timeLimit, CancellationToken.None);
            JsValue outcome;
            try
            {
                var promise = call(sandbox);
                sandbox.Engine.Advanced.ProcessTasks();

                // Callbacks get no timers and no I/O: once the job queue is empty, a promise still
                // pending never settles (an already cancelled token makes the unwrap not wait).
                outcome = promise.UnwrapIfPromise(new CancellationToken(canceled: true));
            }
            finally
            {
                sandbox.Deadline.End();
            }

            if (outcome.IsObject() && outcome.AsObject().Get("failure") is { } failure && failure.IsString())
            {
                var error = outcome.AsObject().Get("error").ToString();
                LogCallbackFailed(_logger, failure.AsString(), error);
                return ShapedSession.Failed($"the {failure.AsString()} callback failed ({error})");
            }

            var session = outcome.AsObject().Get("session").AsString();
            var token = outcome.AsObject().Get("token");
            return ShapedSession.Of(Encoding.UTF8.GetBytes(session), token.IsString() ? Encoding.UTF8.GetBytes(token.AsString()) : null);
        }
        catch (Exception exception) when (IsScriptFailure(exception) || exception is OperationCanceledException)
        {
            // A limit leaves the engine mid-script; never hand it out again.
            keep = false;
            var kind = exception is OperationCanceledException ? "a promise that never settles" : Describe(exception);
            LogCallbackAborted(_logger, kind);
            return ShapedSession.Failed($"the callbacks failed ({kind})");
        }
        finally
        {
            if (keep && _idle.Count < _maxIdle)
            {
                _idle.Add(sandbox);
            }
            else
            {
                sandbox.Dispose();
            }
        }
    }

    private Sandbox CreateSandbox()
    {
        var deadline = new OperationDeadlineConstraint();
        var options = new Options();
        options.EnableModules(new Loader(_app, _glue));
        options.Strict();
        options.DisableStringCompilation();
        options.LimitRecursion(MaxRecursion);
        options.MaxStatements(MaxStatements);
        options.LimitMemory(_memoryLimit);
        options.TimeoutInterval(_timeLimit);
        options.LocalTimeZone(TimeZoneInfo.Utc);
        options.Constraint(deadline);
        var engine = new Engine(options);
        try
        {
            // Apps log from their callbacks; here console goes nowhere, since what they log is often the token or the user.
            engine.Execute("globalThis.console = Object.freeze({ log() {}, info() {}, warn() {}, error() {}, debug() {} });");
            deadline.Begin(_timeLimit, CancellationToken.None);
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

    [LoggerMessage(EventId = 1201, Level = LogLevel.Warning, Message = "Auth.js {Callback} callback failed ({Error}): no session, as Auth.js answers")]
    private static partial void LogCallbackFailed(ILogger logger, string callback, string error);

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
