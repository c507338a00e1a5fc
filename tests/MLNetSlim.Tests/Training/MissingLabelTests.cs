using MLNetSlim.Architecture;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Network;
using MLNetSlim.Tests.Network;
using MLNetSlim.Training;
using static TorchSharp.torch;

namespace MLNetSlim.Tests.Training;

/// <summary>A row that does not label a classification task (class index -1, e.g. CIFAR100-MTL where a row labels one
/// task of 20): no loss, no gradient, not counted by the metrics.</summary>
[TestClass]
public class MissingLabelTests
{
    private static readonly TaskDefinition Task = new("t", TaskKind.Classification, 3);

    [TestMethod]
    public void Loss_AveragesOverLabelledRowsOnly_AndGivesMissingRowsNoGradient()
    {
        // Rows 0 and 2 labelled, row 1 missing; row 1's logits are large so counting it would change the loss.
        float[] values = [2, 0, 0, 9, -9, 0, 0, 1, 3];
        using Tensor logits = tensor(values, new long[] { 3, 3 }).requires_grad_(true);
        using Tensor labels = tensor(new long[] { 0, -1, 2 });
        using Tensor loss = TaskLosses.Loss(Task, logits, labels);

        double Ce(int row, int label)
        {
            double[] z = values.Skip(row * 3).Take(3).Select(v => (double)v).ToArray();
            return Math.Log(z.Sum(Math.Exp)) - z[label];
        }
        Assert.AreEqual((Ce(0, 0) + Ce(2, 2)) / 2, loss.item<float>(), 1e-5, "mean over the 2 labelled rows");
        loss.backward();
        float[] grad = logits.grad!.data<float>().ToArray();
        CollectionAssert.AreEqual(new float[] { 0, 0, 0 }, grad[3..6], "the missing row gets no gradient");
        Assert.IsTrue(grad[0..3].Any(g => g != 0) && grad[6..9].Any(g => g != 0), "labelled rows do get gradients");
    }

    [TestMethod]
    public void Loss_BatchWithoutAnyLabelForTheTask_IsZeroNotNaN_AndBackwardWorks()
    {
        using Tensor logits = tensor(new float[] { 1, 2, 3, 4, 5, 6 }, new long[] { 2, 3 }).requires_grad_(true);
        using Tensor labels = tensor(new long[] { -1, -1 });
        using Tensor loss = TaskLosses.Loss(Task, logits, labels);
        Assert.AreEqual(0f, loss.item<float>());
        loss.backward();
        Assert.IsTrue(logits.grad!.data<float>().ToArray().All(g => g == 0));
    }

    [TestMethod]
    public void Metrics_CountLabelledRowsOnly()
    {
        // Predictions 0, 1, 2, 0; labels 0, -1, 2, -1: both labelled rows right = accuracy 1 (0.5 if missing rows counted).
        using Tensor output = tensor(new float[] { 5, 0, 0, 0, 5, 0, 0, 0, 5, 5, 0, 0 }, new long[] { 4, 3 });
        using Tensor labels = tensor(new long[] { 0, -1, 2, -1 });
        var metrics = new TaskMetrics(Task);
        metrics.Add(output, labels);
        Assert.AreEqual(1.0, metrics.Primary, 1e-12);
    }

    [TestMethod]
    public void Metrics_OfATaskWithoutAnyLabelledRow_AreAnErrorNotZero()
    {
        using Tensor output = tensor(new float[] { 5, 0, 0 }, new long[] { 1, 3 });
        using Tensor labels = tensor(new long[] { -1 });
        var metrics = new TaskMetrics(Task);
        metrics.Add(output, labels);
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => metrics.Primary);
        StringAssert.Contains(e.Message, "Task 't' has no labelled row in the evaluated data");
    }

    [TestMethod]
    public void Dataset_AcceptsMinusOne_ButNotOtherNegativeLabels()
    {
        var ok = new MultiTaskDataset(new float[2], 1, 1, 1, [Task], [[MultiTaskDataset.MissingLabel, 2]]);
        Assert.AreEqual(-1, ok.Labels[0][0]);
        Assert.ThrowsExactly<ArgumentException>(() => new MultiTaskDataset(new float[2], 1, 1, 1, [Task], [[-2, 2]]));
    }

    [TestMethod]
    public void CalibrationTable_OfDataWithMissingLabels_EqualsTheTableOfTheLabelledRows()
    {
        TaskDefinition[] tasks = TinyNetwork.Tasks(4);
        using MultiTaskNetwork net = TinyNetwork.Create(tasks, seed: 5);
        var rng = new Random(9);
        int n = 200;
        float[] images = TinyNetwork.Images(rng, n);
        // Even rows label task a only, odd rows task b only.
        int[] a = Enumerable.Range(0, n).Select(i => i % 2 == 0 ? rng.Next(3) : -1).ToArray();
        int[] b = Enumerable.Range(0, n).Select(i => i % 2 == 1 ? rng.Next(4) : -1).ToArray();
        var data = new MultiTaskDataset(images, 1, 8, 8, tasks, [a, b]);
        BatchNormPostStatistics.Compute(net, data, n, 64, CPU);
        double[][][] table = NetworkEvaluator.AccuracyTable(net, data, 64);

        // Reference: task a on the even rows alone (every row labelled), task b on the odd rows alone.
        int[] even = Enumerable.Range(0, n).Where(i => i % 2 == 0).ToArray(), odd = Enumerable.Range(0, n).Where(i => i % 2 == 1).ToArray();
        MultiTaskDataset evenRows = data.Subset(even), oddRows = data.Subset(odd);
        Assert.IsTrue(evenRows.Labels[0].All(y => y >= 0) && oddRows.Labels[1].All(y => y >= 0));
        for (int e = 0; e < net.EncoderOptions.Count; e++)
            for (int d = 0; d < net.DecoderWidths.Count; d++)
            {
                WidthConfiguration c = net.CostTable.Configuration(e, [d, d]);
                double referenceA = NetworkEvaluator.Metrics(net, evenRows, c, 64)[0].Primary;
                double referenceB = NetworkEvaluator.Metrics(net, oddRows, c, 64)[1].Primary;
                Assert.AreEqual(referenceA, table[0][e][d], 1e-12, $"task a at {c}");
                Assert.AreEqual(referenceB, table[1][e][d], 1e-12, $"task b at {c}");
            }
    }
}
