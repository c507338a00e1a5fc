namespace MLNetSlim.Datasets;

/// <summary>SplitMix64 (Steele, Lea and Flood 2014): fixed here so that the data never depend on System.Random.</summary>
internal sealed class SplitMix64(ulong state)
{
    private ulong _state = state;

    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>floor((next &gt;&gt; 32)·bound / 2³²), exact integer arithmetic, in [0, bound).</summary>
    public int Below(int bound) => (int)(((Next() >> 32) * (ulong)bound) >> 32);

    public int[] Permutation(int n)
    {
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        for (int k = n - 1; k > 0; k--)
        {
            int j = Below(k + 1);
            (order[k], order[j]) = (order[j], order[k]);
        }
        return order;
    }
}
