// MLNetSlim sample: train ONE controllable multi-task network on a folder of images + labels.tsv, evaluate it per task
// and save it as an ML.NET model zip. After deployment, a compute budget and task weights choose a width configuration
// at run time without retraining (see the Consume and WebApi samples).
//
//   dotnet run --project samples/MLNetSlim.Samples.Train -- --prepare-sample-data data [--count 2000]
//   dotnet run --project samples/MLNetSlim.Samples.Train -- --images data --labels data/labels.tsv --out model.zip [--epochs 3]
using MLNetSlim.Samples.Train;

try
{
    if (Args.Get(args, "--prepare-sample-data") is string sampleDir)
    {
        int count = int.Parse(Args.Get(args, "--count") ?? "2000", System.Globalization.CultureInfo.InvariantCulture);
        SampleData.Prepare(sampleDir, count);
        return 0;
    }

    string images = Args.Require(args, "--images");
    string labels = Args.Require(args, "--labels");
    string output = Args.Require(args, "--out");
    int epochs = int.Parse(Args.Get(args, "--epochs") ?? "3", System.Globalization.CultureInfo.InvariantCulture);

    MLModel.Train(images, labels, output, epochs);
    return 0;
}
catch (Exception e) when (e is ArgumentException or FileNotFoundException or DirectoryNotFoundException or FormatException
                              or InvalidDataException or MLNetSlim.Datasets.DataUnavailableException)
{
    Console.Error.WriteLine("error: " + e.Message);
    Console.Error.WriteLine("usage: --images DIR --labels DIR/labels.tsv --out model.zip [--epochs N]");
    Console.Error.WriteLine("       --prepare-sample-data DIR [--count N]");
    return 1;
}
