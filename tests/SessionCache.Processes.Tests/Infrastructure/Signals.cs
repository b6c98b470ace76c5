using System.Diagnostics;
using System.Globalization;

namespace SessionCache.Processes.Tests.Infrastructure;

/// <summary>POSIX signals the tests send: SIGKILL through <see cref="Process.Kill()"/>, these two through kill(1).</summary>
internal static class Signals
{
    public static void Pause(int pid) => Send(pid, "-STOP");

    public static void Resume(int pid) => Send(pid, "-CONT");

    /// <summary>What docker stop, Kubernetes and Ctrl+C's script traps send: a request to stop cleanly.</summary>
    public static void Terminate(int pid) => Send(pid, "-TERM");

    private static void Send(int pid, string signal)
    {
        using var kill = Process.Start("kill", [signal, pid.ToString(CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill {signal} {pid} failed with {kill.ExitCode}");
        }
    }
}
