using System.CommandLine;
using MLNetSlim.Data;
using Spectre.Console;
using MLNetSlim.Control;
using MLNetSlim.Datasets;
using MLNetSlim.SampleData;

namespace MLNetSlim.Demo;

/// <summary>Settings of the run command.</summary>
public sealed record RunSettings(string? Data, int Epochs, string Backbone, string Out, int? TrainCount, int? TestCount, int Seed,
    double DistillationWeight, int Threads, int PreferenceVectors, IReadOnlyList<string> CommandLine, string Benchmark = "multi-mnist", string? StageChannels = null,
    string? DecoderWidths = null)
{
    /// <summary>The main job's default decoder width set: 0.125 to 1 in steps of 1/32 (29 multipliers; the encoder keeps
    /// 0.25, 0.5, 0.75, 1). docs/control.md, section 5, says why.</summary>
    public static double[] FineDecoderWidths() => Enumerable.Range(0, 29).Select(i => 0.125 + i / 32.0).ToArray();

    /// <summary>The decoder width multipliers of --decoder-widths: "fine" (default) = <see cref="FineDecoderWidths"/>,
    /// "encoder" = the encoder's set (null), or a comma-separated list.</summary>
    /// <exception cref="ArgumentException">A part is not a number.</exception>
    public double[]? DecoderWidthMultipliers() => DecoderWidths switch
    {
        null or "fine" => FineDecoderWidths(),
        "encoder" => null,
        string list => list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(x => double.TryParse(x, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v)
                ? v : throw new ArgumentException($"--decoder-widths: '{x}' is not a number (expected fine, encoder or a list such as 0.25,0.5,0.75,1).")).ToArray(),
    };
}

/// <summary>Settings of the evaluate command.</summary>
public sealed record EvaluateSettings(string Model, string? Data, int? TestCount, int PreferenceVectors, int Seed, int Threads,
    IReadOnlyList<string> CommandLine, string? Out = null);

/// <summary>The run command's options (one set per command that takes them).</summary>
public sealed class RunOptions
{
    /// <summary>Backbone names accepted by --backbone.</summary>
    public static readonly string[] Backbones = ["small", "resnet"];

    private readonly Option<string?> _data = Cli.DataOption();
    private readonly Option<int> _epochs = Cli.PositiveOption("--epochs", "Training epochs.", 3);
    private readonly Option<string> _backbone = new("--backbone") { Description = "Backbone: small (small conv net) or resnet.", DefaultValueFactory = _ => "small" };
    private readonly Option<string> _out = new("--out") { Description = "Output folder (model.zip, report.json, report.md, plots).", DefaultValueFactory = _ => "out" };
    private readonly Option<int?> _trainCount = Cli.CountOption("--train-count", "Training images (default: all 60000; 10 % are held out for calibration).");
    private readonly Option<int?> _testCount = Cli.CountOption("--test-count", "Test images (default: all 10000).");
    private readonly Option<int> _seed = new("--seed") { Description = "Seed of weight initialisation, training and the training data's pairing (the test set always uses pairing seed 0).", DefaultValueFactory = _ => 0 };
    private readonly Option<double> _distillation = new("--distillation-weight") { Description = "Weight lambda of the CI-KD loss (0 turns it off).", DefaultValueFactory = _ => 1.0 };
    private readonly Option<int> _threads = Cli.ThreadsOption();
    private readonly Option<int> _prefs = Cli.PreferenceVectorsOption();
    private readonly Option<string?> _stageChannels = new("--stage-channels")
    {
        Description = "scenes only: full-width channels of the three backbone stages, comma-separated (default 16,32,64).",
    };
    private readonly Option<string?> _decoderWidths = new("--decoder-widths")
    {
        Description = "multi-mnist only: decoder width multipliers: fine (default: 0.125 to 1 in steps of 1/32), encoder (the encoder's 0.25,0.5,0.75,1) or a comma-separated list.",
    };
    private readonly Option<string> _benchmark = new("--benchmark")
    {
        Description = "multi-mnist (default): classification on Multi-(Fashion+MNIST); scenes: the dense benchmark on composed scenes " +
                      "(segmentation, depth, edges, front item; trained through the ML.NET estimator, with the CI-KD ablation; --train-count/--test-count count scenes, default 6000/1000).",
        DefaultValueFactory = _ => "multi-mnist",
    };

    /// <summary>Creates the options.</summary>
    public RunOptions()
    {
        _backbone.AcceptOnlyFromAmong(Backbones);
        _benchmark.AcceptOnlyFromAmong("multi-mnist", "scenes");
        _distillation.Validators.Add(r =>
        {
            double v = r.GetValueOrDefault<double>();
            if (!(v >= 0) || double.IsInfinity(v)) r.AddError($"--distillation-weight must be a finite number >= 0, got {v}.");
        });
    }

    /// <summary>Adds the options to a command.</summary>
    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { _data, _epochs, _backbone, _out, _trainCount, _testCount, _seed, _distillation, _threads, _prefs, _benchmark, _stageChannels, _decoderWidths })
            command.Options.Add(o);
    }

    /// <summary>Reads the parsed values.</summary>
    public RunSettings Read(ParseResult parse, string command) => new(parse.GetValue(_data), parse.GetValue(_epochs), parse.GetValue(_backbone)!,
        parse.GetValue(_out)!, parse.GetValue(_trainCount), parse.GetValue(_testCount), parse.GetValue(_seed), parse.GetValue(_distillation),
        parse.GetValue(_threads), parse.GetValue(_prefs), Environment.GetCommandLineArgs(), parse.GetValue(_benchmark)!, parse.GetValue(_stageChannels),
        parse.GetValue(_decoderWidths));
}

/// <summary>Option factories and the error boundary of the commands.</summary>
public static class Cli
{
    /// <summary>--data.</summary>
    public static Option<string?> DataOption() => new("--data")
    {
        Description = "Data root holding mnist/ and fashion-mnist/ (default: $MLNETSLIM_DATA, else ~/.cache/mlnetslim; Fashion-MNIST also from /usr/share/datasets).",
    };

    /// <summary>A positive int option with a default.</summary>
    public static Option<int> PositiveOption(string name, string description, int defaultValue)
    {
        var o = new Option<int>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        o.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v < 1) r.AddError($"{name} must be at least 1, got {v}.");
        });
        return o;
    }

    /// <summary>An optional positive count.</summary>
    public static Option<int?> CountOption(string name, string description)
    {
        var o = new Option<int?>(name) { Description = description };
        o.Validators.Add(r =>
        {
            int? v = r.GetValueOrDefault<int?>();
            if (v is < 1) r.AddError($"{name} must be at least 1, got {v}.");
        });
        return o;
    }

    /// <summary>--threads.</summary>
    public static Option<int> ThreadsOption()
    {
        var o = new Option<int>("--threads") { Description = "Torch intra-op threads (0: Torch's default, the number of cores).", DefaultValueFactory = _ => 0 };
        o.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 0) r.AddError("--threads must be >= 0.");
        });
        return o;
    }

    /// <summary>--preference-vectors.</summary>
    public static Option<int> PreferenceVectorsOption() =>
        PositiveOption("--preference-vectors", "Preference vectors drawn from Dirichlet(0.2) per budget for the controllability comparison.", 100);

    /// <summary>Runs a command, turning expected failures into one red line and an exit code (1; 130 when cancelled).</summary>
    public static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            // On a pool thread, so that the action's task exists at once: System.CommandLine handles Ctrl+C (cancels the
            // token, waits for the action) only for an action that has started; the demo's work is mostly synchronous.
            return await Task.Run(action).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled.[/]");
            return 130;
        }
        catch (Exception e) when (e is DataUnavailableException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
                                       or ArgumentException or InvalidOperationException or UnauthorizedAccessException or IOException)
        {
            AnsiConsole.MarkupLine($"[red]Error:[/] {Markup.Escape(e.Message)}");
            for (Exception? inner = e.InnerException; inner is not null; inner = inner.InnerException)
                AnsiConsole.MarkupLine($"[grey]  caused by {Markup.Escape(inner.GetType().Name)}: {Markup.Escape(inner.Message)}[/]");
            return 1;
        }
    }

    /// <summary>Makes sure the data are on disk, logging each step.</summary>
    public static async Task<DataFolders> EnsureDataAsync(string? data, CancellationToken ct)
    {
        var fetcher = new DataFetcher(data, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"));
        return await fetcher.EnsureAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Loads the Multi-(Fashion+MNIST) split, checking the count against the split's size.</summary>
    public static MultiTaskDataset LoadSplit(DataFolders folders, DataSplit split, int? count, int seed, string option)
    {
        int max = split == DataSplit.Train ? 60_000 : 10_000;
        if (count > max) throw new ArgumentException($"{option} is {count}, but the {split.ToString().ToLowerInvariant()} split has {max} images.");
        return MultiFashionMnist.Load(split, count, seed, folders.Mnist, folders.FashionMnist);
    }

    /// <summary>Applies --threads to Torch.</summary>
    public static void ApplyThreads(int threads)
    {
        Runtime.TorchRuntime.EnsureInitialized();
        if (threads > 0) TorchSharp.torch.set_num_threads(threads);
        else _ = TorchSharp.torch.get_num_threads(); // loads libtorch
        TorchQuiet.DisableNnpack();
    }
}
