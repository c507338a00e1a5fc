// MLNetSlim sample: train ONE controllable multi-task network on a folder of images + labels.tsv, evaluate it per task
// and save it as an ML.NET model zip. After deployment, a compute budget and task weights choose a width configuration
// at run time without retraining (see the Consume and WebApi samples).
//
//   dotnet run --project samples/MLNetSlim.Samples.Train -c Release -- --prepare-sample-data data [--count 2000]
//   dotnet run --project samples/MLNetSlim.Samples.Train -c Release -- --images data --labels data/labels.tsv --out model.zip [--epochs 3]
using System.CommandLine;
using MLNetSlim.Samples;
using MLNetSlim.Samples.Train;

Option<string?> images = SampleCommandLine.Text("--images", "Folder the ImagePath column of labels.tsv is relative to.");
Option<string?> labels = SampleCommandLine.Text("--labels", "labels.tsv: header 'ImagePath<TAB>task1<TAB>task2...', one row per image.");
Option<string?> output = SampleCommandLine.Text("--out", "Where to save the model zip (e.g. model.zip).");
Option<int> epochs = SampleCommandLine.Integer("--epochs", "Training epochs", 3, minimum: 1);
Option<int> batchSize = SampleCommandLine.Integer("--batch-size", "Images per training step; fewer training rows train with one smaller batch", 128, minimum: 2);
Option<int> progressEvery = SampleCommandLine.Integer("--progress-every", "Print training progress every this many steps", 10, minimum: 1);
Option<string?> prepare = SampleCommandLine.Text("--prepare-sample-data", "Instead of training: write real sample data (PNGs + labels.tsv) to this folder.");
Option<int> count = SampleCommandLine.Integer("--count", "With --prepare-sample-data: number of images", 2000, minimum: 1);
var root = new RootCommand("Train one controllable multi-task image classifier on a folder of images + labels.tsv and save it as an ML.NET model zip.\n" +
                           "  train:   --images DIR --labels DIR/labels.tsv --out model.zip [--epochs 3]\n" +
                           "  data:    --prepare-sample-data DIR [--count 2000]")
{
    images, labels, output, epochs, batchSize, progressEvery, prepare, count,
};

return SampleCommandLine.Run(root, args, parse =>
{
    if (parse.GetValue(prepare) is string sampleDir)
    {
        Option[] trainingOnly = [images, labels, output, epochs, batchSize, progressEvery];
        if (trainingOnly.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false }) is Option extra)
            throw new ArgumentException($"{extra.Name} trains; --prepare-sample-data only writes data (run the two steps separately).");
        SampleData.Prepare(sampleDir, parse.GetValue(count));
        return 0;
    }
    if (parse.GetResult(count) is { Implicit: false }) throw new ArgumentException("--count goes with --prepare-sample-data.");
    string Required(Option<string?> option) => parse.GetValue(option)
        ?? throw new ArgumentException($"missing option {option.Name} (training needs --images, --labels and --out; --help lists the options)");
    MLModel.Train(Required(images), Required(labels), Required(output),
        new TrainSettings(parse.GetValue(epochs), parse.GetValue(batchSize), parse.GetValue(progressEvery)));
    return 0;
});
