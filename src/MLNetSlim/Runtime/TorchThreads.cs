using TorchSharp;

namespace MLNetSlim.Runtime;

/// <summary>
/// Torch's intra-op thread count as it behaves in the CPU libtorch that TorchSharp loads (OpenMP build), measured here
/// with libtorch 2.10 / TorchSharp 0.107 (see docs/mlnet-integration.md):
/// <list type="bullet">
/// <item><c>torch.set_num_threads(n)</c> sets the count of the CALLING thread and the default that threads which have
/// not run torch yet pick up on their first torch call;</item>
/// <item>a thread that has already run torch keeps its own count when another thread calls
/// <c>set_num_threads</c>.</item>
/// </list>
/// So the count is effectively per thread: <see cref="EnsureForCurrentThread"/> gives the calling thread its count
/// (and, as a side effect of libtorch, makes it the default for threads that start using torch later).
/// </summary>
internal static class TorchThreads
{
    /// <summary>Torch's intra-op thread count on the calling thread.</summary>
    public static int CurrentThreadCount
    {
        get
        {
            TorchRuntime.EnsureInitialized();
            return torch.get_num_threads();
        }
    }

    /// <summary>
    /// Makes torch use <paramref name="threads"/> intra-op threads for operations run by the calling thread; nothing
    /// when <paramref name="threads"/> is 0 or the thread already has that count (one native call to read it).
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative.</exception>
    public static void EnsureForCurrentThread(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        if (threads == 0) return;
        TorchRuntime.EnsureInitialized();
        if (torch.get_num_threads() != threads) torch.set_num_threads(threads);
    }
}
