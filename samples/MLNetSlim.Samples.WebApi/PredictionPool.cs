using System.Globalization;
using Microsoft.Extensions.ObjectPool;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Control;
using MLNetSlim.MLNet;
using MLNetSlim.Model;
using MLNetSlim.Samples;

namespace MLNetSlim.Samples.WebApi;

/// <summary>The JSON answer of POST /predict.</summary>
public sealed record PredictionResponse(
    string Budget, IReadOnlyDictionary<string, double> TaskWeights, string Configuration, long Macs, long FullMacs,
    double FractionOfFull, double? PredictedMilliseconds, IReadOnlyDictionary<string, TaskPrediction> Tasks);

/// <summary>One task's predicted class and the probability of every class.</summary>
public sealed record TaskPrediction(string Label, IReadOnlyDictionary<string, float> Scores);

/// <summary>
/// ONE loaded model and a pool of <see cref="PredictionEngine{TSrc, TDst}"/>s over its one transformer
/// (Microsoft.Extensions.ObjectPool). Each request's budget and weights travel in the input row (the transformer's
/// per-row columns <c>Budget</c> and <c>TaskWeights</c>), so requests never touch shared control state, and engines
/// predict in parallel (the transformer has no lock around the forward pass; each forward pass uses one torch thread).
/// </summary>
/// <remarks>
/// Why a pool of engines: ML.NET's <c>PredictionEngine</c> is not thread-safe and costs a little to create, so a
/// request rents one, predicts and returns it; the pool keeps up to <see cref="Size"/> idle engines and creates more
/// under load (at most one per concurrent request). Memory: one model, whatever the pool size.
/// </remarks>
public sealed class PredictionPool : IDisposable
{
    private readonly ServingModel _model;
    private readonly ObjectPool<PredictionEngine<ModelInput, ModelOutput>> _engines;
    private readonly Dictionary<string, string[]> _classNames = new();
    private readonly List<PredictionEngine<ModelInput, ModelOutput>> _created = new();

    /// <param name="modelPath">The model zip.</param>
    /// <param name="size">Idle engines kept (at least 1).</param>
    /// <param name="logger">Receives the MLContext log (ML.NET's messages; trace and info at Debug level).</param>
    public PredictionPool(string modelPath, int size, ILogger? logger = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        ModelPath = SampleFiles.CheckModelFile(modelPath);
        Size = size;
        _model = ServingModel.Load<ModelInput>(ModelPath, ModelOutput.TaskNames, NewContext(logger));
        Network.IntraOpThreads = 1; // engines run in parallel: one torch thread each
        _engines = new DefaultObjectPoolProvider { MaximumRetained = size }.Create(new EnginePolicy(this));
        PredictionEngine<ModelInput, ModelOutput> first = _engines.Get();
        foreach (string task in Network.Tasks.Select(t => t.Name)) _classNames[task] = _model.ClassNames(task, first.OutputSchema);
        _engines.Return(first);
    }

    /// <summary>The model zip.</summary>
    public string ModelPath { get; }

    /// <summary>Idle engines kept.</summary>
    public int Size { get; }

    /// <summary>"image" or "features".</summary>
    public string InputKind => _model.InputKind;

    /// <summary>The one transformer.</summary>
    public ControllableMultiTaskTransformer Network => _model.Network;

    /// <summary>Task names, in the model's order.</summary>
    public IReadOnlyList<string> Tasks => Network.Tasks.Select(t => t.Name).ToArray();

    /// <summary>Predicts every task for <paramref name="image"/> at this request's budget and weights (the model's saved
    /// control when null).</summary>
    /// <exception cref="ArgumentException">Infeasible budget or bad weights (the message says which).</exception>
    public Task<PredictionResponse> PredictAsync(MLImage image, Budget? budget, IReadOnlyDictionary<string, double>? weights,
        CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Predict(image, budget, weights));
    }

    /// <summary>Predicts every task for <paramref name="image"/> (see <see cref="PredictAsync"/>).</summary>
    public PredictionResponse Predict(MLImage image, Budget? budget, IReadOnlyDictionary<string, double>? weights)
    {
        ControlSnapshot saved = Network.Control;
        Budget b = budget ?? saved.Budget;
        IReadOnlyDictionary<string, double> w = weights ?? saved.TaskWeights;
        float[] row = Tasks.Select(t => (float)(w.TryGetValue(t, out double v) ? v : 0)).ToArray();
        foreach (string name in w.Keys)
            if (!Tasks.Contains(name)) throw new ArgumentException($"Unknown task '{name}' in the weights; the tasks are {string.Join(", ", Tasks)}.");
        // The row's budget column is a Single fraction of full MACs: MACs convert to it; a latency budget becomes the
        // fraction of the configuration the latency search picks for it (the fraction search then takes the best
        // configuration of at most those MACs). The configuration reported is the search's answer for exactly the row's values.
        double[] preferences = row.Select(x => (double)x).ToArray();
        long requestedMacs = Network.Model.SelectConfiguration(b, preferences).Macs; // checks the budget in the request's unit
        double fraction = b.Unit switch
        {
            BudgetUnit.FractionOfFullMacs => b.Value,
            BudgetUnit.Macs => Math.Min(1, b.Value / Network.FullMacs),
            _ => (double)requestedMacs / Network.FullMacs,
        };
        float rowBudget = (float)fraction;
        var resolved = Network.Model.SelectConfiguration(Budget.FractionOfFull(Math.Min(1, (double)rowBudget)), preferences);
        PredictionEngine<ModelInput, ModelOutput> engine = _engines.Get();
        ModelOutput output;
        try
        {
            output = engine.Predict(new ModelInput { Image = image, Budget = rowBudget, TaskWeights = row });
        }
        finally
        {
            _engines.Return(engine);
        }
        var tasks = output.ByTask().ToDictionary(t => t.Task, t => new TaskPrediction(t.Label,
            _classNames[t.Task].Zip(t.Scores).ToDictionary(p => p.First, p => p.Second)));
        return new PredictionResponse(SampleControl.Describe(b), Tasks.Zip(row).ToDictionary(p => p.First, p => (double)p.Second),
            resolved.Widths.ToString(), resolved.Macs, Network.FullMacs, Math.Round((double)resolved.Macs / Network.FullMacs, 4),
            b.Unit == BudgetUnit.Milliseconds && Network.Model is ControllableMultiTaskModel m ? Math.Round(m.MeasureLatency().PredictMs(resolved.Widths), 3) : null,
            tasks);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_created) foreach (var e in _created) e.Dispose();
    }

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

    private sealed class EnginePolicy(PredictionPool pool) : IPooledObjectPolicy<PredictionEngine<ModelInput, ModelOutput>>
    {
        public PredictionEngine<ModelInput, ModelOutput> Create()
        {
            var engine = pool._model.MLContext.Model.CreatePredictionEngine<ModelInput, ModelOutput>(pool._model.Transformer);
            lock (pool._created) pool._created.Add(engine);
            return engine;
        }

        public bool Return(PredictionEngine<ModelInput, ModelOutput> engine) => true;
    }
}
