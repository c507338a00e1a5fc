using MLNetSlim.Architecture;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Training;

[TestClass]
public class TaskLossesTests
{
    [TestMethod]
    public void Segmentation_CrossEntropyIgnoresTheIgnoreValue()
    {
        // Zero logits over 3 classes: ln 3 per valid pixel; the 255 pixel is ignored.
        var task = new TaskDefinition("seg", TaskKind.Segmentation, 3) { IgnoreValue = 255 };
        using Tensor logits = zeros(1, 3, 1, 2);
        using Tensor labels = tensor(new long[] { 0, 255 }, new long[] { 1, 1, 2 });
        using Tensor loss = TaskLosses.Loss(task, logits, labels);
        Assert.AreEqual(Math.Log(3), loss.item<float>(), 1e-5);
    }

    [TestMethod]
    public void Depth_L1OnValidPixels()
    {
        // (p, y): (1, 1), (2, 4), (4, 0 = invalid), (5, 4): (0 + 2 + 1) / 3 = 1.
        using Tensor p = tensor(new float[] { 1, 2, 4, 5 }, new long[] { 1, 1, 2, 2 });
        using Tensor y = tensor(new float[] { 1, 4, 0, 4 }, new long[] { 1, 1, 2, 2 });
        using Tensor loss = TaskLosses.Loss(TaskDefinition.PerPixel("d", TaskKind.Depth), p, y);
        Assert.AreEqual(1.0, loss.item<float>(), 1e-6);
    }

    [TestMethod]
    public void Normals_CosineLossSkipsZeroLabels()
    {
        // (1,0,0) vs (0,0,2): 1 - 0; (1,0,0) vs (1,0,0): 0; third label all zero: ignored. Mean 0.5.
        using Tensor p = tensor(new float[] { 1, 1, 1, 0, 0, 0, 0, 0, 0 }, new long[] { 1, 3, 1, 3 });
        using Tensor y = tensor(new float[] { 0, 1, 0, 0, 0, 0, 2, 0, 0 }, new long[] { 1, 3, 1, 3 });
        using Tensor loss = TaskLosses.Loss(TaskDefinition.PerPixel("n", TaskKind.Normals), p, y);
        Assert.AreEqual(0.5, loss.item<float>(), 1e-6);
    }

    [TestMethod]
    public void Edges_ClassBalancedBinaryCrossEntropy()
    {
        // Zero logits: ln 2 per pixel. Labels 1, 0, 0, 0 (+ one ignored 255): positives weigh 3/4, negatives 1/4,
        // sum = ln 2 (0.75 + 3 x 0.25) = 1.5 ln 2, divided by the 4 valid pixels.
        using Tensor logits = zeros(1, 1, 1, 5);
        using Tensor y = tensor(new float[] { 1, 0, 0, 0, 255 }, new long[] { 1, 1, 1, 5 });
        using Tensor loss = TaskLosses.Loss(TaskDefinition.PerPixel("e", TaskKind.Edges, ignoreValue: 255), logits, y);
        Assert.AreEqual(1.5 * Math.Log(2) / 4, loss.item<float>(), 1e-6);
    }

    [TestMethod]
    public void NoValidPixel_GivesZeroLossWithAGradient()
    {
        using Tensor p = ones(1, 1, 2, 2).requires_grad_();
        using Tensor y = zeros(1, 1, 2, 2);
        using Tensor loss = TaskLosses.Loss(TaskDefinition.PerPixel("d", TaskKind.Depth), p, y);
        Assert.AreEqual(0f, loss.item<float>());
        loss.backward();
        Assert.IsNotNull(p.grad);
    }
}
