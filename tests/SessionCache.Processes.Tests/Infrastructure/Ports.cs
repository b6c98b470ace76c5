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
