using System.Globalization;
using System.Threading.Channels;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

namespace MLNetSlim.Samples.WebApi;

/// <summary>The JSON answer of POST /predict.</summary>
public sealed record PredictionResponse(
    string Budget, IReadOnlyDictionary<string, double> TaskWeights, string Configuration, long Macs, long FullMacs,
    double FractionOfFull, IReadOnlyDictionary<string, TaskPrediction> Tasks);

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
    public PredictionPool(string modelPath, int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ModelPath = Path.GetFullPath(modelPath);
        if (!File.Exists(ModelPath))
            throw new FileNotFoundException($"Model file '{ModelPath}' does not exist; train one with MLNetSlim.Samples.Train.", ModelPath);
        _free = Channel.CreateBounded<Slot>(size);
        for (int i = 0; i < size; i++)
        {
            var slot = new Slot(ModelPath);
            _all.Add(slot);
            _free.Writer.TryWrite(slot);
        }
    }

    /// <summary>The model zip.</summary>
    public string ModelPath { get; }

    /// <summary>Number of slots.</summary>
    public int Size => _all.Count;

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

    /// <summary>One model copy with its engine; used by one request at a time.</summary>
    private sealed class Slot
    {
        private readonly Budget _defaultBudget;
        private readonly IReadOnlyDictionary<string, double> _defaultWeights;
        private readonly Dictionary<string, string[]> _classNames = new();
        private (Budget Budget, string Weights) _current;

        public Slot(string modelPath)
        {
            var mlContext = new MLContext();
            mlContext.AddMLNetSlim(); // lets ML.NET read MLNetSlim's transformer from the zip
            ITransformer model = mlContext.Model.LoadChecked(modelPath, out DataViewSchema _);
            Network = model.GetControllableMultiTaskTransformer();
            string[] tasks = Network.Tasks.Select(t => t.Name).ToArray();
            if (!tasks.Order().SequenceEqual(ModelOutput.TaskNames.Order()))
                throw new InvalidOperationException($"The model's tasks are [{string.Join(", ", tasks)}] but ModelOutput declares " +
                    $"[{string.Join(", ", ModelOutput.TaskNames)}]; edit ModelOutput.cs to match your labels.tsv columns.");
            Engine = mlContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(model);
            foreach (string task in tasks)
            {
                VBuffer<ReadOnlyMemory<char>> names = default;
                Engine.OutputSchema[ControllableMultiTaskTransformer.ScoreColumnName(task)].GetSlotNames(ref names);
                _classNames[task] = names.DenseValues().Select(n => n.ToString()).ToArray();
            }
            _defaultBudget = Network.Budget;
            _defaultWeights = Network.TaskWeights;
            _current = (_defaultBudget, Key(_defaultWeights));
        }

        public ControllableMultiTaskTransformer Network { get; }

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
            return new PredictionResponse(Network.Budget.ToString(), Network.TaskWeights, Network.Configuration.ToString(),
                Network.ConfigurationMacs, Network.FullMacs, (double)Network.ConfigurationMacs / Network.FullMacs, tasks);
        }

        private static string Key(IReadOnlyDictionary<string, double> weights) =>
            string.Join(",", weights.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => p.Key + ":" + p.Value.ToString("R", CultureInfo.InvariantCulture)));
    }
}
