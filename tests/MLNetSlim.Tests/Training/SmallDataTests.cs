using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.Training;
using MLNetSlim.Network;

namespace MLNetSlim.Tests.Training;

/// <summary>Training on fewer rows than the batch size, and the last partial batch (issue 16).</summary>
[TestClass]
public sealed class SmallDataTests
{
    [TestMethod]
    public async Task Estimator_SixtyRows_TrainsWithOneSmallerBatch()
    {
        // 60 rows, BatchSize 128 (the default): 54 training rows after the 10 % validation split, one batch of 54.
        MultiTaskDataset data = MultiFashionMnist.Create(await TestData.MnistAsync(DataSplit.Train), await TestData.FashionMnistAsync(DataSplit.Train), 60, seed: 2);
        var ml = new MLContext(seed: 1);
        IDataView raw = ml.Data.LoadFromEnumerable(Enumerable.Range(0, data.Count).Select(i => new Row
        {
            Features = data.Images.AsSpan(i * 784, 784).ToArray(),
            digit = data.Tasks[0].ClassNames[data.Labels[0][i]],
            fashion = data.Tasks[1].ClassNames[data.Labels[1][i]],
        }));
        var options = new ControllableMultiTaskEstimator.Options { Tasks = { new("digit"), new("fashion") }, Epochs = 1, Seed = 1 };
        Assert.AreEqual(128, options.BatchSize);
        var pipeline = ml.Transforms.Conversion.MapValueToKey("digit").Append(ml.Transforms.Conversion.MapValueToKey("fashion"))
            .Append(ml.MulticlassClassification.Trainers.ControllableMultiTask(options));
        ITransformer model = pipeline.Fit(raw);

        IDataView scored = model.Transform(raw);
        float[][] scores = ml.Data.CreateEnumerable<Scored>(scored, reuseRowObject: false).Select(s => s.Digit).ToArray();
        Assert.AreEqual(60, scores.Length);
        Assert.IsTrue(scores.All(s => s.Length == 10 && Math.Abs(s.Sum() - 1) < 1e-4), "every row gets 10 probabilities");
    }

    [TestMethod]
    public async Task Trainer_LastPartialBatch_DroppedOrUsedAsTheOptionSays()
    {
        MultiTaskDataset data = MultiFashionMnist.Create(await TestData.MnistAsync(DataSplit.Train), await TestData.FashionMnistAsync(DataSplit.Train), 34, seed: 2);
        int Steps(MultiTaskDataset d, int batch, bool drop)
        {
            using MultiTaskNetwork net = SupernetTrainer.CreateNetwork(new NetworkOptions { Tasks = d.Tasks.ToArray() }, 1);
            return SupernetTrainer.Train(net, d, new TrainingOptions
            { Epochs = 1, BatchSize = batch, DropLastPartialBatch = drop, PostStatisticsImages = 0, Seed = 1 }).Steps;
        }
        Assert.AreEqual(2, Steps(data, 16, drop: true), "34 rows, batch 16: two full batches, the last 2 rows dropped");
        Assert.AreEqual(3, Steps(data, 16, drop: false), "... or trained on as a third, smaller batch");
        Assert.AreEqual(1, Steps(data, 128, drop: true), "fewer rows than the batch size: one batch of all 34 rows");
        Assert.AreEqual(3, Steps(data, 11, drop: false), "a last batch of one row (34 = 3 x 11 + 1) is never used: batch norm needs two");
        MultiTaskDataset one = MultiFashionMnist.Create(await TestData.MnistAsync(DataSplit.Train), await TestData.FashionMnistAsync(DataSplit.Train), 1, seed: 2);
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => Steps(one, 32, drop: true)).Message, "at least 2");
    }

    private sealed class Row
    {
        [VectorType(784)]
        public float[] Features { get; set; } = [];

        public string digit { get; set; } = "";

        public string fashion { get; set; } = "";
    }

    private sealed class Scored
    {
        [ColumnName("Score.digit")]
        public float[] Digit { get; set; } = [];
    }
}
