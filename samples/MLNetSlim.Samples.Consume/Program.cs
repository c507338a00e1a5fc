// MLNetSlim sample: classify one image with a trained controllable multi-task model, at a compute budget and task
// weights chosen now (no retraining): the model searches the width configuration that fits the budget.
//
//   dotnet run --project samples/MLNetSlim.Samples.Consume -- --model model.zip --image data/images/00000.png \
//       [--budget 0.5 | 50% | 3ms | 1.2e6macs] [--weights digit=0.8,fashion=0.2]
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Samples.Consume;

try
{
    string modelPath = Arg("--model") ?? throw new ArgumentException("Missing option --model.");
    string imagePath = Arg("--image") ?? throw new ArgumentException("Missing option --image.");

    var model = new MLModel(modelPath);
    // Runtime control: both setters run the configuration search at once and throw for budgets/tasks the model cannot meet.
    if (Arg("--budget") is string budget) model.Network.Budget = Budget.Parse(budget);
    if (Arg("--weights") is string weights) model.Network.TaskWeights = TaskPreferences.ParseTaskWeights(weights);

    using MLImage image = LoadImage(imagePath);
    ModelOutput output = model.Predict(new ModelInput { Image = image });

    var network = model.Network;
    Console.WriteLine($"Budget:        {network.Budget}");
    Console.WriteLine($"Task weights:  {string.Join(", ", network.TaskWeights.Select(w => $"{w.Key}={w.Value:0.###}"))}");
    Console.WriteLine($"Configuration: {network.Configuration}");
    Console.WriteLine($"MACs:          {network.ConfigurationMacs:N0} of {network.FullMacs:N0} ({(double)network.ConfigurationMacs / network.FullMacs:P1} of full)");
    foreach ((string task, string label, float[] scores) in output.ByTask())
    {
        string[] classes = model.ClassNames(task);
        var top = scores.Select((p, i) => (Class: classes[i], p)).OrderByDescending(x => x.p).Take(3);
        Console.WriteLine($"{task,-8} -> {label,-12} top: {string.Join(", ", top.Select(x => $"{x.Class} {x.p:0.000}"))}");
    }
    return 0;
}
catch (Exception e) when (e is ArgumentException or FormatException or FileNotFoundException or InvalidOperationException)
{
    Console.Error.WriteLine("error: " + e.Message);
    Console.Error.WriteLine("usage: --model model.zip --image path.png [--budget 0.5|50%|3ms|1.2e6macs] [--weights digit=0.8,fashion=0.2]");
    return 1;
}

static MLImage LoadImage(string path)
{
    if (!File.Exists(path)) throw new FileNotFoundException($"Image file '{Path.GetFullPath(path)}' does not exist.");
    try { return MLImage.CreateFromFile(path); }
    catch (ArgumentException e) { throw new ArgumentException($"'{path}' is not an image ML.NET can read (PNG, JPEG, BMP, GIF, WebP).", e); }
}

string? Arg(string name)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : i >= 0 ? throw new ArgumentException($"Option {name} needs a value.") : null;
}
