using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>
/// A real redis-server on loopback, configured as docs/operations.md recommends for revocations: the
/// append-only file, fsynced on every write. It can be killed with SIGKILL and started again on
/// the same port and data.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sessioncache-redis-").FullName;
    private Process? _process;

    public int Port { get; } = Ports.Free();

    public string ConnectionString => $"127.0.0.1:{Port}";

    public async Task StartAsync()
    {
        var executable = Environment.GetEnvironmentVariable("SESSIONCACHE_TEST_REDIS_SERVER") ?? "redis-server";
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[]
        {
            "--bind", "127.0.0.1", "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--dir", _directory, "--save", string.Empty, "--appendonly", "yes", "--appendfsync", "always",
        })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            _process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception exception)
        {
            throw new InvalidOperationException("redis-server is not installed: run the tests with scripts/test.sh, which installs it.", exception);
        }

        _process.OutputDataReceived += static (_, _) => { };
        _process.ErrorDataReceived += static (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.TrueAsync(PingAsync, $"redis-server answering on {ConnectionString}", 30);
    }

    /// <summary>SIGKILL: no shutdown save; only what the append-only file already holds survives.</summary>
    public void Kill()
    {
        _process?.Kill();
        _process?.WaitForExit();
    }

    public async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit();
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }
}
