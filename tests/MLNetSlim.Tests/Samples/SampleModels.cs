using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.Control;
using MLNetSlim.Data;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Architecture;
using MLNetSlim.Datasets;
using MLNetSlim.Training;
using MLNetSlim.Network;

namespace MLNetSlim.Tests.Samples;

/// <summary>
/// The small real models and files the sample tests share, made once per test run (one short training of 400
/// Multi-(Fashion+MNIST) images for all tests, plus a 64-image one with other task names): the Train sample's kind of
/// zip (image in, label text out), the demo's kind (784-float Features in), a model whose tasks differ from the
/// samples' ModelOutput, a PNG, a truncated PNG and a file that is not a zip. Files live in one temporary folder,
/// deleted at the end of the run.
/// </summary>
public static class SampleModels
{
    private static readonly Lazy<Task<Files>> Made = new(MakeAsync);

    /// <summary>The files (made on first use).</summary>
    public static Task<Files> GetAsync() => Made.Value;

    /// <summary>Paths of the shared files.</summary>
    public sealed record Files(string Folder, string ImageModel, string FeaturesModel, string OtherTasksModel, string Png, string TruncatedPng,
        string NotAZip, MultiTaskDataset Data);

    private static async Task<Files> MakeAsync()
    {
        LabeledImages mnist = await TestData.MnistAsync(DataSplit.Train);
        LabeledImages fashion = await TestData.FashionMnistAsync(DataSplit.Train);
        MultiTaskDataset data = MultiFashionMnist.Create(mnist, fashion, count: 400, seed: 3);
        string dir = TestData.NewTempFolder();
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };

        var files = new Files(dir, Path.Combine(dir, "image-model.zip"), Path.Combine(dir, "features-model.zip"),
            Path.Combine(dir, "other-tasks.zip"), Path.Combine(dir, "sample.png"), Path.Combine(dir, "truncated.png"),
            Path.Combine(dir, "not-a-model.zip"), data);
        WritePng(data, 0, files.Png);
        byte[] png = await File.ReadAllBytesAsync(files.Png);
        await File.WriteAllBytesAsync(files.TruncatedPng, png[..(png.Length * 2 / 3)]);
        await File.WriteAllTextAsync(files.NotAZip, "this is not a zip file\n");

        using (ControllableMultiTaskModel network = ModelTrainer.Train(data, null, new ModelOptions
               { ValidationFraction = 0.25, Training = { Epochs = 1, BatchSize = 32, Seed = 1, PostStatisticsImages = 256 } }))
        {
            SaveImagePipeline(network, files.Png, files.ImageModel);
            SaveFeaturesModel(network, data, files.FeaturesModel);
        }

        // Tasks "digit" and "shape": not what the samples' ModelOutput declares.
        MultiTaskDataset small = MultiFashionMnist.Create(mnist, fashion, count: 64, seed: 4);
        var renamed = new MultiTaskDataset(small.Images, 1, 28, 28,
            [small.Tasks[0], new TaskDefinition("shape", TaskKind.Classification, small.Tasks[1].NumClasses, small.Tasks[1].ClassNames)],
            small.Labels.Select(l => l.ToArray()).ToArray());
        using (ControllableMultiTaskModel other = ModelTrainer.Train(renamed, null, new ModelOptions
               { ValidationFraction = 0.25, Training = { Epochs = 1, BatchSize = 16, Seed = 1, PostStatisticsImages = 32 } }))
            SaveImagePipeline(other, files.Png, files.OtherTasksModel);
        return files;
    }

    /// <summary>The Train sample's saved pipeline (image -> 28x28 grey pixels in [0, 1] -> network -> label text),
    /// built around an already trained network.</summary>
    public static void SaveImagePipeline(IMultiTaskModel network, string png, string zip)
    {
        var ml = new MLContext(seed: 1);
        IDataView paths = ml.Data.LoadFromEnumerable(new[] { new ImageRow { ImagePath = png } });
        IDataView images = ml.Transforms.LoadImages("Image", imageFolder: null, inputColumnName: nameof(ImageRow.ImagePath)).Fit(paths).Transform(paths);
        var pipeline = ml.Transforms.ResizeImages("Image", 28, 28, inputColumnName: "Image")
            .Append(ml.Transforms.ConvertToGrayscale("Image"))
            .Append(ml.Transforms.ExtractPixels("Features", "Image", colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red,
                interleavePixelColors: false, scaleImage: 1 / 255f))
            .Append(ml.Transforms.ApplyControllableMultiTaskModel(network))
            .Append(ml.Transforms.Conversion.MapKeyToValue(network.Tasks
                .Select(t => new InputOutputColumnPair(ControllableMultiTaskTransformer.PredictedLabelColumnName(t.Name))).ToArray()));
        ml.Model.Save(pipeline.Fit(images), images.Schema, zip);
    }

    /// <summary>The demo's out/model.zip kind: the transformer alone on a 784-float Features column.</summary>
    public static void SaveFeaturesModel(IMultiTaskModel network, MultiTaskDataset data, string zip)
    {
        var ml = new MLContext(seed: 1);
        IDataView view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, 8).Select(i => new FeaturesRow { Features = data.Images.AsSpan(i * 784, 784).ToArray() }));
        ml.Model.Save(ml.Transforms.ApplyControllableMultiTaskModel(network).Fit(view), view.Schema, zip);
    }

    /// <summary>Writes image <paramref name="index"/> of <paramref name="data"/> as a grey PNG.</summary>
    public static void WritePng(MultiTaskDataset data, int index, string path)
    {
        var rgba = new byte[data.ImageSize * 4];
        for (int p = 0; p < data.ImageSize; p++)
        {
            byte grey = (byte)Math.Round(Math.Clamp(data.Images[index * data.ImageSize + p], 0f, 1f) * 255f);
            rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = grey;
            rgba[4 * p + 3] = 255;
        }
        using MLImage image = MLImage.CreateFromPixels(data.Width, data.Height, MLPixelFormat.Rgba32, rgba);
        image.Save(path);
    }

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
    }

    private sealed class FeaturesRow
    {
        [VectorType(784)]
        public float[] Features { get; set; } = [];
    }
}
