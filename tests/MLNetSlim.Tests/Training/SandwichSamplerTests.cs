using MLNetSlim.Architecture;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class SandwichSamplerTests
{
    private static MultiTaskNetwork Network() => TinyNetwork.Create(TinyNetwork.Tasks(4), seed: 3);

    private static Dictionary<double, int> EncoderCounts(SandwichSampler sampler, int steps)
    {
        var counts = new Dictionary<double, int>();
        for (int i = 0; i < steps; i++)
        {
            IReadOnlyList<WidthConfiguration> step = sampler.Next();
            Assert.AreEqual(WidthConfiguration.Uniform(1.0, 2), step[0], "full first");
            Assert.AreEqual(WidthConfiguration.Uniform(0.25, 2), step[1], "smallest second");
            foreach (WidthConfiguration c in step.Skip(2))
                counts[c.EncoderOutputWidth] = counts.GetValueOrDefault(c.EncoderOutputWidth) + 1;
        }
        return counts;
    }

    [TestMethod]
    public void MiddleEncoders_DrawsTheRandomConfigurationsEncoderFromTheMiddleOptionsOnly()
    {
        using MultiTaskNetwork net = Network();
        Dictionary<double, int> middle = EncoderCounts(new SandwichSampler(net, 2, seed: 5, middleEncoders: true), 400);
        CollectionAssert.AreEquivalent(new[] { 0.5, 0.75 }, middle.Keys.ToArray());
        Assert.IsTrue(middle.Values.All(c => c > 300), string.Join(", ", middle));

        // Default: uniform over all four encoder options, the ends included.
        Dictionary<double, int> uniform = EncoderCounts(new SandwichSampler(net, 2, seed: 5), 400);
        CollectionAssert.AreEquivalent(new[] { 0.25, 0.5, 0.75, 1.0 }, uniform.Keys.ToArray());

        // Decoder widths stay uniform over the whole set with middle encoders.
        var sampler = new SandwichSampler(net, 1, seed: 6, middleEncoders: true);
        var decoderWidths = new HashSet<double>();
        for (int i = 0; i < 200; i++) decoderWidths.UnionWith(sampler.Next()[2].DecoderWidths);
        CollectionAssert.AreEquivalent(new[] { 0.25, 0.5, 0.75, 1.0 }, decoderWidths.ToArray());
    }
}
