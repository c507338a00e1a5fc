using System.Globalization;
using System.Threading.Channels;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Samples;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

namespace MLNetSlim.Samples.WebApi;

/// <summary>The JSON answer of POST /predict.</summary>
public sealed record PredictionResponse(
    string Budget, IReadOnlyDictionary<string, double> TaskWeights, string Configuration, long Macs, long FullMacs,
    double FractionOfFull, double? PredictedMilliseconds, IReadOnlyDictionary<string, TaskPrediction> Tasks);

/// <summary>One task's predicted class and the probability of every class.</summary>
public sealed record TaskPrediction(string Label, IReadOnlyDictionary<string, float> Scores);

/// <summary>
/// A fixed pool of prediction slots, each with its OWN copy of the model (loaded from the zip), its own
/// <see cref="ControllableMultiTaskTransformer"/> and its own <see cref="PredictionEngine{TSrc, TDst}"/>.
/// </summary>
/// <remarks>
/// Why a pool of whole models: a transformer's <c>Budget</c> and <c>TaskWeights</c> are shared state (every engine of
/// that transformer reads them on each <c>Predict</c>), ML.NET's <c>PredictionEngine</c> is not thread-safe, and the
/// network's forward pass is serialised per transformer anyway. So a request rents a slot exclusively, sets that slot's
/// budget and weights (only when they differ from what the slot last used: the search is cheap, but free is cheaper),
/// predicts and returns the slot. Concurrent requests with different budgets never see each other's settings, any
/// number of distinct (budget, weights) pairs is served without a cache to bound or evict, memory is bounded by the
/// pool size (one small model per slot), and up to PoolSize requests run the network in parallel; further requests
/// wait for a free slot.
/// </remarks>
public sealed class PredictionPool : IDisposable
{
    private readonly Channel<Slot> _free;
    private readonly List<Slot> _all = new();

    /// <summary>Loads <paramref name="size"/> copies of the model.</summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    /// <param name="modelPath">The model zip.</param>
    /// <param name="size">Number of model copies.</param>
    /// <param name="logger">Receives the MLContext log of every copy (ML.NET's messages; trace and info at Debug level).</param>
    public PredictionPool(string modelPath, int size, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ModelPath = SampleFiles.CheckModelFile(modelPath);
        _free = Channel.CreateBounded<Slot>(size);
        for (int i = 0; i < size; i++)
        {
            var slot = new Slot(ModelPath, NewContext(logger));
            _all.Add(slot);
            _free.Writer.TryWrite(slot);
        }
    }

    /// <summary>The model zip.</summary>
    public string ModelPath { get; }

    /// <summary>Number of slots.</summary>
    public int Size => _all.Count;

    /// <summary>"image" (an image-pipeline model) or "features" (a pixel-vector model such as the demo's).</summary>
    public string InputKind => _all[0].InputKind;

    /// <summary>Task names, in the model's order.</summary>
    public IReadOnlyList<string> Tasks => _all[0].Network.Tasks.Select(t => t.Name).ToArray();

    /// <summary>Predicts every task for <paramref name="image"/> at the given budget and weights (the model's saved
    /// defaults when null). Waits for a free slot.</summary>
    /// <exception cref="ArgumentException">The budget cannot be met or the weights name an unknown task (the message says which).</exception>
    public async Task<PredictionResponse> PredictAsync(MLImage image, Budget? budget, IReadOnlyDictionary<string, double>? weights,
        CancellationToken cancellationToken)
    {
        Slot slot = await _free.Reader.ReadAsync(cancellationToken);
        try
        {
            return slot.Predict(image, budget, weights);
        }
        finally
        {
            _free.Writer.TryWrite(slot);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (Slot slot in _all) slot.Engine.Dispose();
    }

    /// <summary>An MLContext whose log goes to <paramref name="logger"/>: ML.NET's errors and warnings as such, its
    /// (chatty) info and trace messages at Debug and Trace level.</summary>
    private static MLContext NewContext(ILogger? logger)
    {
        var mlContext = new MLContext();
        if (logger is not null)
            mlContext.Log += (_, e) =>
            {
                LogLevel level = e.Kind switch
                {
                    Microsoft.ML.Runtime.ChannelMessageKind.Error => LogLevel.Error,
                    Microsoft.ML.Runtime.ChannelMessageKind.Warning => LogLevel.Warning,
                    Microsoft.ML.Runtime.ChannelMessageKind.Info => LogLevel.Debug,
                    _ => LogLevel.Trace,
                };
                if (logger.IsEnabled(level)) logger.Log(level, "{Source}: {Message}", e.Source, e.Message);
            };
        return mlContext;
    }

    /// <summary>One model copy with its engine; used by one request at a time.</summary>
    private sealed class Slot
    {
        private readonly Budget _defaultBudget;
        private readonly IReadOnlyDictionary<string, double> _defaultWeights;
        private readonly Dictionary<string, string[]> _classNames = new();
        private (Budget Budget, string Weights) _current;

        public Slot(string modelPath, MLContext mlContext)
        {
            ServingModel model = ServingModel.Load<ModelInput>(modelPath, ModelOutput.TaskNames, mlContext);
            Network = model.Network;
            InputKind = model.InputKind;
            Engine = model.MLContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model.Transformer);
            foreach (string task in Network.Tasks.Select(t => t.Name))
                _classNames[task] = model.ClassNames(task, Engine.OutputSchema);
            _defaultBudget = Network.Budget;
            _defaultWeights = Network.TaskWeights;
            _current = (_defaultBudget, Key(_defaultWeights));
        }

        public ControllableMultiTaskTransformer Network { get; }

        public string InputKind { get; }

        public PredictionEngine<ModelInput, ModelOutput> Engine { get; }

        public PredictionResponse Predict(MLImage image, Budget? budget, IReadOnlyDictionary<string, double>? weights)
        {
            Budget b = budget ?? _defaultBudget;
            IReadOnlyDictionary<string, double> w = weights ?? _defaultWeights;
            if (_current != (b, Key(w)))
            {
                // Weights first, then budget: each setter runs the search; a failing setter leaves the previous value.
                _current = default; // if a setter throws, the next request sets both again
                Network.TaskWeights = w;
                Network.Budget = b;
                _current = (b, Key(w));
            }
            ModelOutput output = Engine.Predict(new ModelInput { Image = image });
            var tasks = output.ByTask().ToDictionary(t => t.Task, t => new TaskPrediction(t.Label,
                _classNames[t.Task].Zip(t.Scores).ToDictionary(p => p.First, p => p.Second)));
            return new PredictionResponse(SampleControl.Describe(Network.Budget), Network.TaskWeights, Network.Configuration.ToString(),
                Network.ConfigurationMacs, Network.FullMacs, Math.Round((double)Network.ConfigurationMacs / Network.FullMacs, 4),
                SampleControl.PredictedMilliseconds(Network) is double ms ? Math.Round(ms, 3) : null, tasks);
        }

        private static string Key(IReadOnlyDictionary<string, double> weights) =>
            string.Join(",", weights.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + ":" + p.Value.ToString("R", CultureInfo.InvariantCulture)));
    }
}
