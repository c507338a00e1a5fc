using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Tests.Evaluation;

[TestClass]
public class NetworkEvaluatorTests
{
    private static readonly TaskDefinition[] Tasks = TinyNetwork.Tasks(4);

    [TestMethod]
    public void AccuracyTable_SharesTheEncoder_AndEqualsPerConfigurationAccuracy()
    {
        using MultiTaskNetwork net = TinyNetwork.Create(Tasks, seed: 11);
        var rng = new Random(4);
        int n = 300;
        float[] images = TinyNetwork.Images(rng, n);
        var data = new MultiTaskDataset(images, 1, 8, 8, Tasks,
            [Enumerable.Range(0, n).Select(_ => rng.Next(3)).ToArray(), Enumerable.Range(0, n).Select(_ => rng.Next(4)).ToArray()]);
        BatchNormPostStatistics.Compute(net, data, n, 64, CPU);

        // Batch size 128 leaves a partial last batch (300 = 2 x 128 + 44).
        double[][][] table = NetworkEvaluator.AccuracyTable(net, data, 128);
        var seen = new HashSet<double>();
        for (int e = 0; e < net.EncoderOptions.Count; e++)
            for (int d = 0; d < net.DecoderWidths.Count; d++)
            {
                WidthConfiguration c = net.CostTable.Configuration(e, [d, d]);
                double[] direct = NetworkEvaluator.Accuracy(net, data, c, 128);
                for (int t = 0; t < Tasks.Length; t++)
                {
                    Assert.AreEqual(direct[t], table[t][e][d], 1e-12, $"task {t}, {c}");
                    seen.Add(table[t][e][d]);
                }
            }
        Assert.IsTrue(seen.Count > 3, "an untrained network at different widths should not score the same everywhere");
    }
}
