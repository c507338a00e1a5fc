using System.CommandLine;
using MLNetSlim.Benchmarks;
using MLNetSlim.Control;

// Benchmarks of MLNetSlim; see docs/benchmarks.md. Every figure is measured in this one process.
var root = new RootCommand("MLNetSlim benchmarks: compare (supernet vs alternatives), search (controller latency), calibration (post-statistics and calibration table per decoder width set), mlnet (ML.NET layer overhead), serving (parallel prediction engines over one model), soak (memory over many predictions and trainings), inference (TorchSharp vs ONNX Runtime latency).");

var outOption = new Option<string>("--out") { Description = "Output folder for the .json and .md reports.", DefaultValueFactory = _ => "docs/benchmarks" };
var dataOption = new Option<string?>("--data") { Description = "Data root (with mnist/ and fashion-mnist/) or a folder with the IDX files; default: $MLNETSLIM_DATA or the cache folder (see docs/data.md)." };
var seedOption = new Option<int>("--seed") { Description = "Seed of data pairing, splits, initialisation and training.", DefaultValueFactory = _ => 0 };
var threadsOption = new Option<int>("--threads")
{
    Description = "Torch intra-op threads; 0: torch's default (one per core). Default 1: on a machine shared with other jobs, torch's OpenMP threads slow down many times over when the cores are oversubscribed (measured here: 28 ms instead of 1.5 ms per batch-1 forward at load 8 on 2 cores). Recorded in the report.",
    DefaultValueFactory = _ => 1,
};
void ApplyThreads(int n)
{
    if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "--threads must be >= 0.");
    if (n > 0) TorchSharp.torch.set_num_threads(n);
}

// compare
var quick = new Option<bool>("--quick") { Description = "Smoke run: 2000 train / 500 test images, 1 epoch, batch-norm post-statistics on 512 images, 20 latency rounds; writes compare-quick.json/.md. Checks that everything runs; its figures are not results." };
var epochs = new Option<int?>("--epochs") { Description = "Epochs of every network (default 3; 1 with --quick)." };
var trainCount = new Option<int?>("--train-count") { Description = "Train-split images to load (default 60000; 2000 with --quick). 10 % are held out for the supernets' calibration." };
var testCount = new Option<int?>("--test-count") { Description = "Test-split images for accuracy (default 10000; 500 with --quick)." };
var mlnetTrainer = new Option<string>("--mlnet-trainer") { Description = "ML.NET built-in baseline: sdca (SdcaMaximumEntropy) or lightgbm.", DefaultValueFactory = _ => "sdca" };
mlnetTrainer.AcceptOnlyFromAmong(MLNetBaseline.Trainers);
var latencyRounds = new Option<int?>("--latency-rounds") { Description = "Timed forward passes per network, configuration and batch size (default 100; 20 with --quick)." };
var middleEncoders = new Option<bool>("--sandwich-middle-encoders") { Description = "Supernets: draw the random sandwich configurations' encoder from the middle options only (TrainingOptions.SandwichMiddleEncoders; default true, the library's default; pass false for the issue-12 ablation).", DefaultValueFactory = _ => new MLNetSlim.Training.TrainingOptions().SandwichMiddleEncoders, Arity = ArgumentArity.ZeroOrOne };
var inplaceWeight = new Option<double>("--inplace-distillation-weight") { Description = "Supernets: weight of in-place distillation of the task outputs from the full configuration (TrainingOptions.InplaceDistillationWeight; default 1, the library's default).", DefaultValueFactory = _ => new MLNetSlim.Training.TrainingOptions().InplaceDistillationWeight };
var finalEpochExtra = new Option<int>("--sandwich-final-epoch-extra-count") { Description = "Supernets: random sandwich configurations added at every step of the last epoch (TrainingOptions.SandwichFinalEpochExtraCount; default 1, the library's default; 0 for the issue-12 ablation).", DefaultValueFactory = _ => new MLNetSlim.Training.TrainingOptions().SandwichFinalEpochExtraCount };
var compare = new Command("compare", "Supernet vs static per-configuration networks, single-task networks, an ML.NET trainer per task, and the supernet without CI-KD, on Multi-(Fashion+MNIST).")
{
    quick, epochs, trainCount, testCount, dataOption, outOption, seedOption, mlnetTrainer, latencyRounds, threadsOption, middleEncoders, inplaceWeight, finalEpochExtra,
};
compare.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    bool q = r.GetValue(quick);
    var settings = new CompareSettings(q,
        r.GetValue(epochs) ?? (q ? 1 : 3),
        r.GetValue(trainCount) ?? (q ? 2000 : 60000),
        r.GetValue(testCount) ?? (q ? 500 : 10000),
        r.GetValue(dataOption), r.GetValue(outOption)!, r.GetValue(seedOption), r.GetValue(mlnetTrainer)!,
        r.GetValue(latencyRounds) ?? (q ? 20 : 100),
        q ? 512 : new MLNetSlim.Training.TrainingOptions().PostStatisticsImages,
        r.GetValue(middleEncoders), r.GetValue(inplaceWeight), r.GetValue(finalEpochExtra));
    return CompareCommand.Run(args, settings);
});
root.Add(compare);

// compare-ablation (issue 12): supernet variants only, against a reference compare.json's static twins
var variantsOption = new Option<string>("--variants") { Description = "Comma-separated supernet variants: " + string.Join(", ", MLNetSlim.Benchmarks.AblationVariant.Known.Select(v => v.Name)) + ".", DefaultValueFactory = _ => "uniform,middle,inplace,middle+inplace" };
var referenceOption = new Option<string>("--reference") { Description = "A full compare.json whose static twins and data counts are used.", DefaultValueFactory = _ => "docs/benchmarks/compare.json" };
var ablationEpochs = new Option<int>("--epochs") { Description = "Epochs of every variant (default 3, as compare).", DefaultValueFactory = _ => 3 };
var compareAblation = new Command("compare-ablation", "Issue-12 ablation: trains only supernet variants (middle encoders, in-place distillation, k) and sets them against a compare.json's static twins.")
{
    variantsOption, referenceOption, ablationEpochs, dataOption, outOption, seedOption, threadsOption,
};
compareAblation.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    return CompareAblationCommand.Run(args, r.GetValue(variantsOption)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        r.GetValue(referenceOption)!, r.GetValue(ablationEpochs), r.GetValue(dataOption), r.GetValue(outOption)!, r.GetValue(seedOption));
});
root.Add(compareAblation);

// search
var queries = new Option<int>("--queries") { Description = "Timed queries per problem.", DefaultValueFactory = _ => 20000 };
var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up queries per problem.", DefaultValueFactory = _ => 2000 };
var search = new Command("search", "Queries/s, p50 and p99 latency of the budget/preference search for 2 and 20 tasks (synthetic problems).")
{
    queries, warmup, outOption,
};
search.SetAction(r => SearchCommand.Run(args, r.GetValue(queries), r.GetValue(warmup), r.GetValue(outOption)!));
root.Add(search);

// calibration
var calibrationImages = new Option<int>("--images") { Description = "Random images for the post-statistics and the calibration table.", DefaultValueFactory = _ => 1000 };
var calibrationRounds = new Option<int>("--rounds") { Description = "Interleaved timed rounds (median reported).", DefaultValueFactory = _ => 3 };
var calibration = new Command("calibration", "Time of the batch-norm post-statistics and the calibration table for decoder width sets of 4, 13 and 29 widths, and the budget-filling decoder pairs each gives.")
{
    calibrationImages, calibrationRounds, outOption, threadsOption,
};
calibration.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    return CalibrationCommand.Run(args, r.GetValue(calibrationImages), r.GetValue(calibrationRounds), r.GetValue(outOption)!);
});
root.Add(calibration);

// mlnet
var mlTrain = new Option<int>("--train-count") { Description = "Train images for the quickly trained model.", DefaultValueFactory = _ => 2000 };
var mlEpochs = new Option<int>("--epochs") { Description = "Epochs of the quickly trained model.", DefaultValueFactory = _ => 1 };
var rows = new Option<int>("--rows") { Description = "Test rows pushed through ML.NET.", DefaultValueFactory = _ => 2000 };
var model = new Option<string?>("--model") { Description = "An ML.NET model zip holding a ControllableMultiTaskTransformer (instead of training one)." };
var save = new Option<string?>("--save") { Description = "Save the trained transformer as an ML.NET model zip here." };
var budget = new Option<double>("--budget") { Description = "Budget (fraction of the full MACs) that picks the measured configuration.", DefaultValueFactory = _ => 1.0 };
var batchSize = new Option<int?>("--batch-size") { Description = "Transformer batch size (default: the transformer's, 64)." };
var calls = new Option<int>("--calls") { Description = "Timed single-row calls per series.", DefaultValueFactory = _ => 500 };
var rounds = new Option<int>("--rounds") { Description = "Timed passes over all rows per throughput series.", DefaultValueFactory = _ => 7 };
var mlnet = new Command("mlnet", "PredictionEngine vs raw forward latency at batch 1, and Transform+cursor vs raw batched forward throughput, for one configuration.")
{
    mlTrain, mlEpochs, rows, model, save, budget, batchSize, calls, rounds, dataOption, outOption, seedOption, threadsOption,
};
mlnet.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    return MLNetCommand.Run(args, new MLNetSettings(r.GetValue(mlTrain), r.GetValue(mlEpochs), r.GetValue(rows), r.GetValue(model),
        r.GetValue(save), r.GetValue(budget), r.GetValue(batchSize), r.GetValue(calls), r.GetValue(rounds), r.GetValue(dataOption),
        r.GetValue(outOption)!, r.GetValue(seedOption)));
});
root.Add(mlnet);

// inference
var infConfigs = new Option<string>("--configurations") { Description = "all: every configuration of the default model (64); uniform: one width everywhere (4).", DefaultValueFactory = _ => "all" };
infConfigs.AcceptOnlyFromAmong("all", "uniform");
var infBatches = new Option<string>("--batches") { Description = "Comma-separated batch sizes.", DefaultValueFactory = _ => "1,32" };
var infRounds = new Option<int>("--rounds") { Description = "Timed interleaved rounds per configuration at batch size 1.", DefaultValueFactory = _ => 200 };
var infRoundsBatched = new Option<int>("--rounds-batched") { Description = "Timed interleaved rounds per configuration at batch sizes above 1 (each pass is longer, so fewer rounds give a stable median).", DefaultValueFactory = _ => 60 };
var infWarmup = new Option<int>("--warmup") { Description = "Untimed rounds first.", DefaultValueFactory = _ => 20 };
var inference = new Command("inference", "Batch-1 and batch-32 latency of every configuration: TorchSharp forward, the ONNX Runtime fast path, plain ONNX Runtime on the exported file, the transformer's default path.")
{
    infConfigs, infBatches, infRounds, infRoundsBatched, infWarmup, threadsOption, outOption, seedOption,
};
inference.SetAction(r =>
{
    int threads = r.GetValue(threadsOption);
    ApplyThreads(threads);
    int[] batches = r.GetValue(infBatches)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
        .Select(b => int.Parse(b, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    return InferenceCommand.Run(args, new InferenceSettings(r.GetValue(infConfigs)!, batches, r.GetValue(infRounds), r.GetValue(infRoundsBatched),
        r.GetValue(infWarmup), threads, r.GetValue(outOption)!, r.GetValue(seedOption)));
});
root.Add(inference);

// serving
var svRounds = new Option<int>("--rounds") { Description = "Timed rounds; each times 1 engine and 2 engines once, in alternating order.", DefaultValueFactory = _ => 9 };
var svPredictions = new Option<int>("--predictions") { Description = "Batch-1 predictions per engine per round.", DefaultValueFactory = _ => 2000 };
var svWarmup = new Option<int>("--warmup") { Description = "Untimed predictions per engine before the rounds.", DefaultValueFactory = _ => 300 };
var svBudget = new Option<double>("--budget") { Description = "Budget (fraction of the full MACs) of the transformer's control.", DefaultValueFactory = _ => 1.0 };
var svModel = new Option<string?>("--model") { Description = "An ML.NET model zip holding a ControllableMultiTaskTransformer (default: an untrained network of the default architecture; timing does not depend on the weights)." };
var serving = new Command("serving", "Batch-1 predictions/s from one loaded model with 1 and 2 prediction engines (1 torch thread each), and their ratio (parallel_speedup).")
{
    svRounds, svPredictions, svWarmup, svBudget, svModel, outOption,
};
serving.SetAction(r => ServingCommand.Run(args, new ServingSettings(r.GetValue(svRounds), r.GetValue(svPredictions), r.GetValue(svWarmup),
    r.GetValue(svBudget), r.GetValue(svModel), r.GetValue(outOption)!)));
root.Add(serving);

// soak
var soakPredictions = new Option<int>("--predictions") { Description = "Single-row predictions in the soak, after the warm-up.", DefaultValueFactory = _ => 50000 };
var soakWarmup = new Option<int>("--warmup-predictions") { Description = "Predictions in the warm-up.", DefaultValueFactory = _ => 2000 };
var soakEpochs = new Option<int>("--epochs") { Description = "Training epochs, in the warm-up and again in the soak.", DefaultValueFactory = _ => 2 };
var soakTrain = new Option<int>("--train-count") { Description = "Training images.", DefaultValueFactory = _ => 5000 };
var soakSynthetic = new Option<bool>("--synthetic") { Description = "Random 28x28 images instead of Multi-(Fashion+MNIST): runs without the data sets; the figures are about memory only." };
var soakMax = new Option<double>("--max-growth") { Description = "Exit code 1 when RSS or the managed heap grows more than this many percent.", DefaultValueFactory = _ => 5.0 };
var soak = new Command("soak", "Memory soak: managed heap and process RSS after a warm-up and after 50,000 predictions plus 2 more training epochs; writes soak.json (rss_growth_percent) and soak.md.")
{
    soakPredictions, soakWarmup, soakEpochs, soakTrain, soakSynthetic, soakMax, dataOption, outOption, seedOption, threadsOption,
};
soak.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    return SoakCommand.Run(args, new SoakSettings(r.GetValue(soakPredictions), r.GetValue(soakWarmup), r.GetValue(soakEpochs), r.GetValue(soakTrain),
        r.GetValue(soakSynthetic), r.GetValue(dataOption), r.GetValue(outOption)!, r.GetValue(soakMax), r.GetValue(seedOption)));
});
root.Add(soak);
var stLarge = new Option<int>("--large-rows") { Description = "Rows of the large lazily generated run.", DefaultValueFactory = _ => 15000 };
var stSmall = new Option<int>("--small-rows") { Description = "Rows of the small run (the RSS growth is large over small).", DefaultValueFactory = _ => 1500 };
var stSize = new Option<int>("--size") { Description = "Image side S of the 3xSxS images.", DefaultValueFactory = _ => 224 };
var stBatch = new Option<int>("--batch-size") { Description = "Training batch size of the lazy runs.", DefaultValueFactory = _ => 8 };
var stThroughput = new Option<int>("--throughput-rows") { Description = "Multi-(Fashion+MNIST) training images of the streaming vs in-memory throughput.", DefaultValueFactory = _ => 6000 };
var stRounds = new Option<int>("--rounds") { Description = "Interleaved rounds (in memory, streamed) of the throughput comparison; medians.", DefaultValueFactory = _ => 5 };
var stPart = new Option<string?>("--part") { Description = "Internal: run one part (lazy) in this process.", Hidden = true };
var stPartRows = new Option<int>("--part-rows") { Hidden = true };
var streamingCmd = new Command("streaming", "Peak RSS and managed heap of one streamed training epoch on a lazily generated IDataView of 3x224x224 images at two row counts (fresh process each), and streaming vs in-memory training throughput on Multi-(Fashion+MNIST).")
{
    stLarge, stSmall, stSize, stBatch, stThroughput, stRounds, stPart, stPartRows, dataOption, outOption, seedOption, threadsOption,
};
streamingCmd.SetAction(r =>
{
    ApplyThreads(r.GetValue(threadsOption));
    return StreamingCommand.Run(args, new StreamingSettings(r.GetValue(stLarge), r.GetValue(stSmall), r.GetValue(stSize), r.GetValue(stBatch),
        r.GetValue(stThroughput), r.GetValue(dataOption), r.GetValue(outOption)!, r.GetValue(seedOption), r.GetValue(stPart), r.GetValue(stPartRows), r.GetValue(stRounds)));
});
root.Add(streamingCmd);

// baselines (hidden): only the ML.NET built-in trainers of `compare`, to choose one and time it.
var blTrain = new Option<int>("--train-count") { DefaultValueFactory = _ => 5400 };
var blTest = new Option<int>("--test-count") { DefaultValueFactory = _ => 1000 };
var blTrainer = new Option<string>("--mlnet-trainer") { DefaultValueFactory = _ => "sdca" };
blTrainer.AcceptOnlyFromAmong(MLNetBaseline.Trainers);
var baselines = new Command("baselines", "Only the ML.NET built-in trainer of compare, on every task (to choose and time it).")
{
    blTrain, blTest, blTrainer, dataOption, seedOption,
};
baselines.Hidden = true;
baselines.SetAction(r =>
{
    int seed = r.GetValue(seedOption);
    var train = MLNetSlim.Datasets.MultiFashionMnist.Load(MLNetSlim.Datasets.DataSplit.Train, r.GetValue(blTrain), seed, r.GetValue(dataOption), r.GetValue(dataOption));
    var test = MLNetSlim.Datasets.MultiFashionMnist.Load(MLNetSlim.Datasets.DataSplit.Test, r.GetValue(blTest), seed, r.GetValue(dataOption), r.GetValue(dataOption));
    for (int t = 0; t < train.Tasks.Count; t++)
        Console.WriteLine(MLNetBaseline.Run(train, test, t, r.GetValue(blTrainer)!, seed, 100));
    return 0;
});
root.Add(baselines);

if (Console.IsOutputRedirected) Spectre.Console.AnsiConsole.Profile.Width = 200; // tables stay readable in logs
return root.Parse(args).Invoke();
