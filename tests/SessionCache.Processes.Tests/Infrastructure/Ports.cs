using System.Net;
using System.Net.Sockets;

namespace SessionCache.Processes.Tests.Infrastructure;

internal static class Ports
{
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A loopback port nothing listens on now, below Linux' ephemeral range (32768 and up): a
    /// process restarted on it must not find it taken by some outgoing connection meanwhile.
    /// </summary>
    public static int Free()
    {
        lock (HandedOut)
        {
            while (true)
            {
                var port = Random.Shared.Next(20_000, 32_000);
                if (!HandedOut.Add(port))
                {
                    continue;
                }

                try
                {
                    using var listener = new TcpListener(IPAddress.Loopback, port);
                    listener.Start();
                    return port;
                }
                catch (SocketException)
                {
                }
            }
        }
    }
}

/// <summary>Waits on conditions, never on fixed sleeps.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, int timeoutSeconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(timeoutSeconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out after {timeoutSeconds} s waiting for: {what}");
            }

            await Task.Delay(100);
        }
    }
}
