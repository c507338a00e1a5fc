using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms;
using Microsoft.ML.Transforms.Image;
using MLNetSlim.MLNet;
using MLNetSlim.Samples;
using MLNetSlim.Training;

namespace MLNetSlim.Samples.Train;

/// <summary>Training of the controllable multi-task model (in the style of Model Builder's MLModel.training.cs).</summary>
internal static class MLModel
{
    /// <summary>Name of the image column the saved model reads (an <see cref="MLImage"/>).</summary>
    public const string ImageColumn = "Image";

    /// <summary>Image side the network sees; images of any size are resized to it.</summary>
    public const int ImageSize = 28;

    /// <summary>Reads the images and labels, trains, prints per-task accuracy on a held-out 20% and saves the model zip.</summary>
    public static void Train(string imagesDir, string labelsPath, string modelPath, TrainSettings settings)
    {
        if (!Directory.Exists(imagesDir)) throw new DirectoryNotFoundException($"image folder '{Path.GetFullPath(imagesDir)}' does not exist.");
        if (!File.Exists(labelsPath)) throw new FileNotFoundException($"labels file '{Path.GetFullPath(labelsPath)}' does not exist.", labelsPath);
        var mlContext = new MLContext(seed: 0);

        // labels.tsv: a header "ImagePath<TAB>task1<TAB>task2...", then one row per image; every column after the first is a task.
        string[] tasks = ReadTaskNames(labelsPath);
        int rows = CheckRows(imagesDir, labelsPath, tasks.Length + 1);
        var columns = new List<TextLoader.Column> { new("ImagePath", DataKind.String, 0) };
        columns.AddRange(tasks.Select((task, i) => new TextLoader.Column(task, DataKind.String, i + 1)));
        IDataView data = mlContext.Data.CreateTextLoader(columns.ToArray(), separatorChar: '\t', hasHeader: true).Load(labelsPath);
        DataOperationsCatalog.TrainTestData split = mlContext.Data.TrainTestSplit(data, testFraction: 0.2, seed: 0);
        Console.WriteLine($"{rows} images; tasks: {string.Join(", ", tasks)}; training on ~80% of the rows (10% of those calibrate the control), testing on ~20%.");

        // 1. Data preparation, used only here: text labels -> keys (what the trainer needs), file paths -> images.
        ITransformer preparation = BuildDataPreparation(mlContext, tasks, imagesDir).Fit(split.TrainSet);
        IDataView train = preparation.Transform(split.TrainSet);
        IDataView test = preparation.Transform(split.TestSet);

        // 2. The model that gets saved: image -> 28x28 grey pixels in [0, 1] -> network -> per-task label text.
        var watch = System.Diagnostics.Stopwatch.StartNew();
        ITransformer model = BuildPipeline(mlContext, tasks, settings).Fit(train);
        Console.WriteLine($"Trained in {watch.Elapsed.TotalSeconds:0.0} s.");

        // 3. Evaluate each task on the held-out rows (at the saved default budget: the full network).
        ControllableMultiTaskTransformer network = model.GetControllableMultiTaskTransformer();
        IDataView scored = model.Transform(test);
        Console.WriteLine($"Full network: {network.FullMacs:N0} MACs per image; configuration {network.Configuration}");
        if (mlContext.Data.CreateEnumerable<ImageRow>(test, reuseRowObject: true).Any())
        {
            foreach ((string task, MulticlassClassificationMetrics metrics) in mlContext.MulticlassClassification.EvaluateControllableMultiTask(scored, network))
                Console.WriteLine($"  {task,-12} accuracy {metrics.MicroAccuracy:P1} (MacroAccuracy {metrics.MacroAccuracy:0.000}, LogLoss {metrics.LogLoss:0.000})");
        }
        else
        {
            Console.WriteLine("  (no test rows: too few images for a 20% test split; accuracy not measured)");
        }

        // 4. Save crash-safely: SaveAtomic writes a temporary file beside the target, flushes it, then renames it into place,
        //    so a failed or interrupted save never leaves half a model.
        string fullPath = Path.GetFullPath(modelPath);
        Directory.CreateDirectory(Path.GetDirectoryName(fullPath)!);
        mlContext.Model.SaveAtomic(model, train.Schema, fullPath);
        Console.WriteLine($"Saved {fullPath}");
    }

    /// <summary>Labels to keys (sorted by value, so classes are listed in a stable order) and image files to images.</summary>
    public static IEstimator<ITransformer> BuildDataPreparation(MLContext mlContext, string[] tasks, string imagesDir)
    {
        IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
        foreach (string task in tasks)
            pipeline = pipeline.Append(mlContext.Transforms.Conversion.MapValueToKey(task, keyOrdinality: ValueToKeyMappingEstimator.KeyOrdinality.ByValue));
        return pipeline.Append(mlContext.Transforms.LoadImages(ImageColumn, imageFolder: imagesDir, inputColumnName: "ImagePath"));
    }

    /// <summary>The saved pipeline: resize, grey pixels, the controllable multi-task network, key -> label text.</summary>
    public static IEstimator<ITransformer> BuildPipeline(MLContext mlContext, string[] tasks, TrainSettings settings)
    {
        var options = new ControllableMultiTaskEstimator.Options
        {
            Tasks = tasks.Select(task => new ControllableMultiTaskEstimator.TaskColumn(task)).ToList(), // label column = task name
            FeatureColumnName = "Features",
            ImageChannels = 1,
            ImageHeight = ImageSize,
            ImageWidth = ImageSize,
            Widths = [0.25, 0.5, 0.75, 1.0], // the widths the network can run at after deployment
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize, // fewer training rows than this: one smaller batch
            DropLastPartialBatch = true,    // an epoch's last, smaller batch is skipped (false: trained on too)
            ProgressEverySteps = settings.ProgressEverySteps,
            Seed = 0,
            Progress = new ConsoleProgress(),
        };
        return mlContext.Transforms.ResizeImages(ImageColumn, ImageSize, ImageSize, inputColumnName: ImageColumn)
            // Colour images become grey (r = g = b), so extracting the red channel gives the grey value; scaled from
            // 0..255 to [0, 1]; planar (C, H, W) order, as the network expects.
            .Append(mlContext.Transforms.ConvertToGrayscale(ImageColumn))
            .Append(mlContext.Transforms.ExtractPixels("Features", ImageColumn,
                colorsToExtract: ImagePixelExtractingEstimator.ColorBits.Red, interleavePixelColors: false, scaleImage: 1 / 255f))
            .Append(mlContext.MulticlassClassification.Trainers.ControllableMultiTask(options))
            // PredictedLabel.<task> becomes the class name text (Score.<task> keeps one probability per class).
            .Append(mlContext.Transforms.Conversion.MapKeyToValue(tasks
                .Select(task => new InputOutputColumnPair(ControllableMultiTaskTransformer.PredictedLabelColumnName(task))).ToArray()));
    }

    private static string[] ReadTaskNames(string labelsPath)
    {
        string header = File.ReadLines(labelsPath).FirstOrDefault()
            ?? throw new InvalidDataException($"'{labelsPath}' is empty; expected a header line 'ImagePath<TAB>task1<TAB>task2...'.");
        string[] names = header.Split('\t');
        if (names.Length < 2 || names[0] != "ImagePath")
            throw new InvalidDataException($"'{labelsPath}' header is '{header}'; expected 'ImagePath<TAB>task1<TAB>task2...' (tab-separated).");
        return names[1..];
    }

    /// <summary>
    /// Checks every row of labels.tsv before training: the column count, and that its image exists under
    /// <paramref name="imagesDir"/> and decodes completely. Returns the number of rows.
    /// </summary>
    private static int CheckRows(string imagesDir, string labelsPath, int columns)
    {
        int rows = 0, line = 1;
        foreach (string text in File.ReadLines(labelsPath).Skip(1))
        {
            line++;
            if (text.Length == 0) continue;
            string[] fields = text.Split('\t');
            if (fields.Length != columns)
                throw new InvalidDataException($"{labelsPath} line {line} has {fields.Length} tab-separated columns; the header has {columns}.");
            string image = Path.Combine(imagesDir, fields[0]);
            if (!File.Exists(image))
                throw new FileNotFoundException($"{labelsPath} line {line}: image '{fields[0]}' not found under --images '{imagesDir}' (looked for '{Path.GetFullPath(image)}').", image);
            SampleFiles.CheckImage(File.ReadAllBytes(image), $"{labelsPath} line {line}: image '{image}'");
            rows++;
        }
        // 80% train, of which 10% calibrate: about 7 of 10 rows are trained on, and batch norm needs at least 2.
        const int minimum = 10;
        if (rows < minimum)
            throw new InvalidDataException($"{labelsPath} lists {rows} images; training needs at least {minimum} (20% are held out for testing and 10% of the rest for calibration).");
        return rows;
    }

    /// <summary>Prints a line every N steps and at each epoch end (synchronously, unlike <see cref="Progress{T}"/>).</summary>
    private sealed class ConsoleProgress : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => Console.WriteLine("  " + value);
    }

    private sealed class ImageRow
    {
        public string ImagePath { get; set; } = "";
    }
}

/// <summary>The training settings of the command line.</summary>
internal sealed record TrainSettings(int Epochs, int BatchSize, int ProgressEverySteps);
