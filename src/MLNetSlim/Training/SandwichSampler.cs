using MLNetSlim.Network;
using MLNetSlim.Architecture;

namespace MLNetSlim.Training;

/// <summary>
/// Draws the width configurations of one training step by the sandwich rule (Yu &amp; Huang, "Universally Slimmable
/// Networks", ICCV 2019): the full configuration, the smallest one, and k random ones. In the random ones the encoder
/// option and every decoder width (from the decoder width set, which may be finer than the encoder's) are drawn
/// independently and uniformly (ECMT), so every decoder learns to work at every
/// width on top of every encoder width. Seeded.
/// </summary>
internal sealed class SandwichSampler
{
    private readonly MultiTaskNetwork _network;
    private int _randomCount;
    private readonly Random _random;

    /// <summary>Creates the sampler.</summary>
    public SandwichSampler(MultiTaskNetwork network, int randomCount, int seed, bool middleEncoders = false, bool sharedEncoder = false)
    {
        _sharedEncoder = sharedEncoder;
        ArgumentOutOfRangeException.ThrowIfNegative(randomCount);
        _network = network;
        _randomCount = randomCount;
        _random = new Random(seed);
        CostTable costs = network.CostTable;
        int full = costs.EncoderOptionOf(network.FullConfiguration), smallest = costs.EncoderOptionOf(network.SmallestConfiguration);
        int[] middle = Enumerable.Range(0, costs.EncoderOptionCount).Where(e => e != full && e != smallest).ToArray();
        _encoderOptions = middleEncoders && middle.Length > 0 ? middle : Enumerable.Range(0, costs.EncoderOptionCount).ToArray();
    }

    private readonly int[] _encoderOptions;
    private readonly bool _sharedEncoder;

    /// <summary>k, the random configurations per step from the next call on.</summary>
    public int RandomCount
    {
        get => _randomCount;
        set { ArgumentOutOfRangeException.ThrowIfNegative(value); _randomCount = value; }
    }

    /// <summary>The configurations of the next step: full first, then smallest, then k random ones (with a shared
    /// encoder, all k on one encoder option drawn once).</summary>
    public IReadOnlyList<WidthConfiguration> Next()
    {
        var list = new List<WidthConfiguration>(2 + _randomCount) { _network.FullConfiguration, _network.SmallestConfiguration };
        CostTable costs = _network.CostTable;
        int shared = _sharedEncoder && _randomCount > 0 ? _encoderOptions[_random.Next(_encoderOptions.Length)] : -1;
        for (int i = 0; i < _randomCount; i++)
        {
            int e = shared >= 0 ? shared : _encoderOptions[_random.Next(_encoderOptions.Length)];
            int[] d = Enumerable.Range(0, costs.TaskCount).Select(_ => _random.Next(costs.DecoderWidths.Count)).ToArray();
            list.Add(costs.Configuration(e, d));
        }
        return list;
    }
}
