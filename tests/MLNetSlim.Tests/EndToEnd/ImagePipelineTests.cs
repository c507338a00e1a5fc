using System.Text.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;

namespace MLNetSlim.Tests.EndToEnd;

/// <summary>
/// The whole ML.NET path on real image files: real Multi-(Fashion+MNIST) images written as PNG with a labels TSV,
/// LoadImages -> ResizeImages -> ExtractPixels -> the controllable multi-task estimator -> MapKeyToValue, then Save,
/// Load in a fresh process, change Budget and TaskWeights, predict.
/// </summary>
[TestClass]
public class ImagePipelineTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed class Row
    {
        [LoadColumn(0)] public string ImagePath { get; set; } = "";
        [LoadColumn(1)] public string digit { get; set; } = "";
        [LoadColumn(2)] public string fashion { get; set; } = "";
    }

    private sealed class Prediction
    {
        [ColumnName("PredictedLabel.digit")] public string Digit { get; set; } = "";
        [ColumnName("PredictedLabel.fashion")] public string Fashion { get; set; } = "";
        [ColumnName("Score.digit")] public float[] DigitScore { get; set; } = [];
    }

    [TestMethod]
    public async Task PngFolder_Pipeline_FitsSavesAndReloadsInAFreshProcess()
    {
        string folder = TestData.NewTempFolder();
        MultiTaskDataset images = MultiFashionMnist.Create(await TestData.MnistAsync(DataSplit.Train), await TestData.FashionMnistAsync(DataSplit.Train), 1280, seed: 5);
        string labels = WritePngFolder(images, folder);

        var ml = new MLContext(seed: 1);
        IDataView rows = ml.Data.LoadFromTextFile<Row>(labels, separatorChar: '\t', hasHeader: true);
        var options = new ControllableMultiTaskEstimator.Options
        {
            Tasks = { new() { Name = "digit" }, new() { Name = "fashion" } },
            FeatureColumnName = "Features",
            ImageChannels = 1,
            ImageHeight = 28,
            ImageWidth = 28,
            Epochs = 2,
            BatchSize = 32,
            Seed = 3,
        };
        var pipeline = ml.Transforms.Conversion.MapValueToKey("digit")
            .Append(ml.Transforms.Conversion.MapValueToKey("fashion"))
            .Append(ml.Transforms.LoadImages("Image", folder, nameof(Row.ImagePath)))
            .Append(ml.Transforms.ResizeImages("Image", 28, 28))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", ImagePixelExtractingEstimator.ColorBits.Red, scaleImage: 1f / 255))
            .Append(ml.MulticlassClassification.Trainers.ControllableMultiTask(options))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel.digit"))
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel.fashion"));
        ITransformer model = pipeline.Fit(rows);

        // In process: the predicted labels are class names of the data, and the digit task is learned beyond chance.
        Prediction[] before = ml.Data.CreateEnumerable<Prediction>(model.Transform(rows), reuseRowObject: false).ToArray();
        Row[] truth = ml.Data.CreateEnumerable<Row>(rows, reuseRowObject: false).ToArray();
        Assert.AreEqual(truth.Length, before.Length);
        Assert.IsTrue(before.All(p => MultiFashionMnist.Tasks[1].ClassNames.Contains(p.Fashion)), "fashion labels are class names");
        double digitAccuracy = before.Zip(truth).Count(p => p.First.Digit == p.Second.digit) / (double)truth.Length;
        Assert.IsTrue(digitAccuracy > 0.3, $"digit accuracy {digitAccuracy:0.00} after 2 short epochs of 36 steps (chance 0.1)");

        // Save, then load in a fresh process: same predictions, bit for bit.
        string zip = Path.Combine(folder, "model.zip");
        ml.Model.Save(model, rows.Schema, zip);
        using JsonDocument reloaded = Host("pipeline", zip, labels);
        float[] digitScores = reloaded.RootElement.GetProperty("Scores").GetProperty("digit").EnumerateArray().SelectMany(a => a.EnumerateArray().Select(v => v.GetSingle())).ToArray();
        CollectionAssert.AreEqual(before.SelectMany(p => p.DigitScore).Select(BitConverter.SingleToInt32Bits).ToArray(), digitScores.Select(BitConverter.SingleToInt32Bits).ToArray());
        CollectionAssert.AreEqual(before.Select(p => p.Digit).ToArray(), reloaded.RootElement.GetProperty("Labels").GetProperty("digit").EnumerateArray().Select(e => e.GetString()).ToArray());
        // The saved budget (1.0) may pick a configuration below full width when it scores as well on the held-out rows.
        long fullMacs = reloaded.RootElement.GetProperty("FullMacs").GetInt64();
        Assert.IsTrue(reloaded.RootElement.GetProperty("ConfigurationMacs").GetInt64() <= fullMacs);

        // Change Budget and TaskWeights in the fresh process: a cheaper configuration that favours the digit decoder.
        using JsonDocument slim = Host("pipeline", zip, labels, "--budget", "0.4", "--weights", "digit=0.9,fashion=0.1");
        long slimMacs = slim.RootElement.GetProperty("ConfigurationMacs").GetInt64();
        var configuration = WidthConfiguration.Parse(slim.RootElement.GetProperty("Configuration").GetString()!);
        Assert.IsTrue(slimMacs <= 0.4 * fullMacs, $"{slimMacs} MACs at budget 0.4 of {fullMacs}");
        Assert.IsTrue(configuration.DecoderWidths[0] >= configuration.DecoderWidths[1], $"digit preferred: {configuration}");
        Assert.AreEqual(truth.Length, slim.RootElement.GetProperty("Labels").GetProperty("fashion").GetArrayLength());
    }

    /// <summary>Writes each image as an 8-bit grey PNG (via ML.NET's MLImage) and a labels TSV; returns the TSV path.</summary>
    internal static string WritePngFolder(MultiTaskDataset data, string folder)
    {
        string labels = Path.Combine(folder, "labels.tsv");
        using var tsv = new StreamWriter(labels);
        tsv.WriteLine("ImagePath\t" + string.Join("\t", data.Tasks.Select(t => t.Name)));
        var bgra = new byte[data.Height * data.Width * 4];
        for (int n = 0; n < data.Count; n++)
        {
            for (int p = 0; p < data.Height * data.Width; p++)
            {
                byte v = (byte)Math.Round(Math.Clamp(data.Images[n * data.ImageSize + p], 0f, 1f) * 255);
                bgra[4 * p] = bgra[4 * p + 1] = bgra[4 * p + 2] = v;
                bgra[4 * p + 3] = 255;
            }
            string name = $"img{n:D5}.png";
            using (MLImage image = MLImage.CreateFromPixels(data.Width, data.Height, MLPixelFormat.Bgra32, bgra))
                image.Save(Path.Combine(folder, name));
            tsv.WriteLine(name + "\t" + string.Join("\t", data.Tasks.Select((t, i) => t.ClassNames[data.Labels[i][n]])));
        }
        return labels;
    }

    private JsonDocument Host(params string[] args)
    {
        (int code, string stdout, string stderr) = LoadHostRunner.Run(TestContext.CancellationToken, args);
        Assert.AreEqual(0, code, stderr);
        return JsonDocument.Parse(stdout);
    }
}
