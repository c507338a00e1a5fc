// MLNetSlim sample: classify one image with a trained controllable multi-task model, at a compute budget and task
// weights chosen now (no retraining): the model searches the width configuration that fits the budget.
//
//   dotnet run --project samples/MLNetSlim.Samples.Consume -c Release -- --model model.zip --image data/images/00002.png \
//       [--budget 0.5 | 50% | 3ms | 1.2e7macs] [--weights digit=0.8,fashion=0.2]
using System.CommandLine;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.Samples;
using MLNetSlim.Samples.Consume;

Option<string?> modelOption = SampleCommandLine.Text("--model", "The model zip (MLNetSlim.Samples.Train's, or the demo's out/model.zip).", required: true);
Option<string?> imageOption = SampleCommandLine.Text("--image", $"The image file to classify ({SampleFiles.ImageFormats}).", required: true);
Option<BudgetBox?> budgetOption = SampleCommandLine.Parsed("--budget", SampleControl.BudgetHelp, text => new BudgetBox(Budget.Parse(text)));
Option<Dictionary<string, double>?> weightsOption = SampleCommandLine.Parsed("--weights", SampleControl.WeightsHelp, TaskPreferences.ParseTaskWeights);
var root = new RootCommand("Classify one image with an MLNetSlim model at a compute budget and task weights chosen now.")
{
    modelOption, imageOption, budgetOption, weightsOption,
};

return SampleCommandLine.Run(root, args, parse =>
{
    var model = new MLModel(parse.GetValue(modelOption)!);
    using MLImage image = SampleFiles.LoadImage(parse.GetValue(imageOption)!);

    // Runtime control: both setters run the configuration search at once and throw for budgets/tasks the model cannot meet.
    if (parse.GetValue(weightsOption) is { } weights) model.Network.TaskWeights = weights;
    if (parse.GetValue(budgetOption) is { } budget) model.Network.Budget = budget.Value;
    ModelOutput output = model.Predict(new ModelInput { Image = image });

    var network = model.Network;
    Console.WriteLine($"Budget:        {SampleControl.Describe(network.Budget)}");
    Console.WriteLine($"Task weights:  {SampleControl.Describe(network.TaskWeights)}");
    Console.WriteLine($"Configuration: {network.Configuration}");
    Console.WriteLine($"MACs:          {network.ConfigurationMacs:N0} of {network.FullMacs:N0} ({(double)network.ConfigurationMacs / network.FullMacs:P1} of full)");
    if (SampleControl.PredictedMilliseconds(network) is double ms)
        Console.WriteLine($"Latency:       {SampleControl.Round(ms)} ms predicted (measured on this machine now; it varies with the machine and its load)");
    foreach ((string task, string label, float[] scores) in output.ByTask())
    {
        string[] classes = model.ClassNames(task);
        var top = scores.Select((p, i) => (Class: classes[i], p)).OrderByDescending(x => x.p).Take(3);
        Console.WriteLine($"{task,-8} -> {label,-12} top: {string.Join(", ", top.Select(x => $"{x.Class} {x.p:0.000}"))}");
    }
    return 0;
});

/// <summary>A parsed budget (a class, so the option can be absent).</summary>
internal sealed record BudgetBox(Budget Value);
