using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Training;

/// <summary>
/// TrainingOptions.SandwichSharedEncoder: the random configurations of a step run on one encoder pass. Without CI-KD
/// (which the shared pass counts once) a step must move the weights exactly as separate passes of the same
/// configurations do, since the encoder's output for one batch does not depend on how often it is computed.
/// </summary>
[TestClass]
public class SharedEncoderStepTests
{
    private static float[] StepOnce(bool shared, double distillationWeight, IReadOnlyList<WidthConfiguration> configurations)
    {
        TaskDefinition[] tasks = TinyNetwork.Tasks(4);
        using MultiTaskNetwork net = TinyNetwork.Create(tasks, seed: 11);
        net.train();
        var data = new InMemoryBatches(TinyNetwork.Data(tasks, 16));
        HostBatch batch = data.Batches(16, null, dropLast: false).First();
        var options = new TrainingOptions
        {
            SandwichSharedEncoder = shared, SandwichRandomCount = configurations.Count - 2,
            DistillationWeight = distillationWeight, InplaceDistillationWeight = 1,
        };
        using optim.Optimizer sgd = optim.SGD(net.parameters(), 0.5);
        SupernetTrainer.Step(net, data, batch, configurations, [1.0, 1.0], options, sgd, CPU, epoch: 1, stepNumber: 1);
        using var scope = NewDisposeScope();
        return net.parameters().SelectMany(p => p.detach().cpu().flatten().data<float>().ToArray()).ToArray();
    }

    private static double MaxDifference(float[] a, float[] b) => a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();

    [TestMethod]
    public void SharedEncoderPass_MovesTheWeightsAsSeparatePassesDo_WithoutCiKd()
    {
        WidthConfiguration[] step =
        [
            WidthConfiguration.Uniform(1.0, 2), WidthConfiguration.Uniform(0.25, 2),
            WidthConfiguration.Parse("enc=0.5 dec=1,0.25"), WidthConfiguration.Parse("enc=0.5 dec=0.25,0.75"),
            WidthConfiguration.Parse("enc=0.5 dec=0.5,0.5"),
        ];
        float[] separate = StepOnce(shared: false, distillationWeight: 0, step);
        float[] shared = StepOnce(shared: true, distillationWeight: 0, step);
        Assert.IsTrue(MaxDifference(separate, shared) < 1e-5, $"max |difference| {MaxDifference(separate, shared):g3}");

        // The step did something (the comparison is not between two untouched networks) ...
        float[] without = StepOnce(shared: true, distillationWeight: 0, step.Take(2).ToArray());
        Assert.IsTrue(MaxDifference(shared, without) > 1e-4, "the random configurations changed the weights");
        // ... and with CI-KD the shared pass counts the encoder's distillation term once, not once per configuration.
        float[] separateKd = StepOnce(shared: false, distillationWeight: 1, step);
        float[] sharedKd = StepOnce(shared: true, distillationWeight: 1, step);
        Assert.IsTrue(MaxDifference(separateKd, sharedKd) > 1e-5, "CI-KD once per encoder pass");
    }

    [TestMethod]
    public void Sampler_WithASharedEncoder_DrawsOneEncoderOptionPerStep_AndDecodersIndependently()
    {
        using MultiTaskNetwork net = TinyNetwork.Create(TinyNetwork.Tasks(4), seed: 3);
        var sampler = new SandwichSampler(net, 3, seed: 5, middleEncoders: true, sharedEncoder: true);
        var encoders = new HashSet<double>();
        int differentDecoders = 0;
        for (int i = 0; i < 200; i++)
        {
            IReadOnlyList<WidthConfiguration> s = sampler.Next();
            Assert.AreEqual(5, s.Count);
            Assert.AreEqual(1, s.Skip(2).Select(c => c.EncoderOutputWidth).Distinct().Count(), $"step {i}: one encoder option");
            encoders.Add(s[2].EncoderOutputWidth);
            if (s.Skip(2).Select(c => string.Join(",", c.DecoderWidths)).Distinct().Count() > 1) differentDecoders++;
        }
        CollectionAssert.AreEquivalent(new[] { 0.5, 0.75 }, encoders.ToArray(), "middle encoder options over the steps");
        Assert.IsTrue(differentDecoders > 150, $"{differentDecoders} of 200 steps drew different decoder widths");
    }
}
