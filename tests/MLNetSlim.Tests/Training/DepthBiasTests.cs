using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Model;
using MLNetSlim.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Training;

/// <summary>
/// Issue 11: with a zero initial output bias, a depth decoder at width 0.25 predicted about a quarter of the depth (the
/// composed-scenes benchmark: 2.8 on background pixels of depth 10, RMSE 6.9, in train mode and in eval mode alike, so
/// no batch-norm mismatch): Adam moves each parameter by about the learning rate per step, so the absolute depth had to
/// be built from the active channels. The depth heads now start at the mean training label.
/// </summary>
[TestClass]
public class DepthBiasTests
{
    /// <summary>The squares of <see cref="DenseTrainingTests.Squares"/> with depth 4 on the square and 10 elsewhere
    /// (the composed scenes' scale); the corner pixel stays 0 (no measurement).</summary>
    private static MultiTaskDataset FarSquares(int n, int seed)
    {
        MultiTaskDataset data = DenseTrainingTests.Squares(n, seed);
        float[] depth = data.PixelLabels[1]!;
        for (int i = 0; i < depth.Length; i++) depth[i] = depth[i] switch { 0 => 0, 1 => 4, _ => 10 };
        return data;
    }

    private static double PredictorBias(MultiTaskNetwork network, int task) =>
        network.named_parameters().Single(p => p.name == $"decoder{task}.head.predictor.bias").parameter.data<float>().Single();

    [TestMethod]
    public void DepthHeadsStartAtTheMeanValidLabel_OtherHeadsAtZero()
    {
        MultiTaskDataset data = FarSquares(40, 3);
        ModelOptions options = DenseTrainingTests.SmallOptions();
        using MultiTaskNetwork network = SupernetTrainer.CreateNetwork(options.NetworkFor(data.Tasks, 1, 16, 16), 1);
        Assert.AreEqual(0.0, PredictorBias(network, 1));
        SupernetTrainer.InitializeDepthBiases(network, new InMemoryBatches(data));
        // Hand mean over the valid pixels (the zero corner pixel is no measurement).
        double expected = data.PixelLabels[1]!.Where(v => v > 0).Average(v => (double)v);
        Assert.IsTrue(expected > 8 && expected < 10, $"{expected}");
        Assert.AreEqual(expected, PredictorBias(network, 1), 1e-4);
        Assert.AreEqual(0.0, PredictorBias(network, 2), "edges keep a zero logit bias");
    }

    [TestMethod]
    public void DepthHeadIgnoresTheIgnoreValue_AndKeepsItsBiasWithoutValidLabels()
    {
        MultiTaskDataset data = FarSquares(8, 4);
        TaskDefinition[] tasks = [DenseTrainingTests.Tasks[0], TaskDefinition.PerPixel("depth", TaskKind.Depth, ignoreValue: 10), DenseTrainingTests.Tasks[2], DenseTrainingTests.Tasks[3]];
        var ignoring = new MultiTaskDataset(data.Images, 1, 16, 16, tasks, [[], [], [], data.Labels[3]], [data.PixelLabels[0], data.PixelLabels[1], data.PixelLabels[2], null]);
        ModelOptions options = DenseTrainingTests.SmallOptions();
        using MultiTaskNetwork network = SupernetTrainer.CreateNetwork(options.NetworkFor(tasks, 1, 16, 16), 1);
        SupernetTrainer.InitializeDepthBiases(network, new InMemoryBatches(ignoring));
        Assert.AreEqual(4.0, PredictorBias(network, 1), 1e-6, "only the squares' depth 4 is valid when 10 is the ignore value");

        float[] none = new float[data.PixelLabels[1]!.Length]; // all zero: no measurement anywhere
        var empty = new MultiTaskDataset(data.Images, 1, 16, 16, data.Tasks, [[], [], [], data.Labels[3]], [data.PixelLabels[0], none, data.PixelLabels[2], null]);
        using MultiTaskNetwork other = SupernetTrainer.CreateNetwork(options.NetworkFor(data.Tasks, 1, 16, 16), 1);
        SupernetTrainer.InitializeDepthBiases(other, new InMemoryBatches(empty));
        Assert.AreEqual(0.0, PredictorBias(other, 1));
    }

    [TestMethod]
    public void NarrowDepthDecoder_PredictsTheDepthScale_NotAFractionOfIt()
    {
        MultiTaskDataset train = FarSquares(256, 1), test = FarSquares(64, 2);
        ModelOptions options = DenseTrainingTests.SmallOptions(epochs: 3);
        options.Widths = [0.25, 1.0];
        options.PyramidChannels = 16;
        using ControllableMultiTaskModel model = ModelTrainer.Train(train, test, options);
        MultiTaskNetwork network = model.Network;
        using Tensor x = tensor(test.Images, new long[] { test.Count, 1, 16, 16 });
        using Tensor depth = tensor(test.PixelLabels[1]!, new long[] { test.Count, 1, 16, 16 });
        using Tensor background = depth.eq(10);
        using var noGrad = no_grad();
        foreach (double encoder in new[] { 0.25, 1.0 })
        {
            var narrow = new WidthConfiguration([encoder], [1.0, 0.25, 1.0, 1.0]);
            using MultiTaskOutput output = network.forward(x, narrow);
            double mean = output.TaskOutputs[1].masked_select(background).mean().item<float>();
            // Before the fix: about 3 here (the narrow head's channels built a quarter of the full head's depth).
            Assert.IsTrue(Math.Abs(mean - 10) < 2, $"encoder {encoder}, depth decoder 0.25: mean prediction {mean:F2} on background pixels of depth 10");
        }
    }
}
