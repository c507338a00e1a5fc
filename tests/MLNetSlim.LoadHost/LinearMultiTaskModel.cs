using MLNetSlim.Control;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.Testing;

/// <summary>
/// A tiny deterministic stand-in for the TorchSharp network, for tests: per task t, logits = (W_t x + b_t) * s, where
/// s = encoder width * decoder width of t, then softmax, all in C# floats. Costs: encoder 1000 * w_e MACs, decoder t
/// round(D * K_t * w_e * w_d) MACs (D = C*H*W). The search enumerates every configuration and maximises
/// sum_t pref_t * w_e * w_t within the budget (ties: fewer MACs). Serialises with BinaryWriter. Thread-safe.
/// </summary>
public sealed class LinearMultiTaskModel : IMultiTaskModel
{
    private const int Magic = 0x4C4D544D; // "MTML"
    private readonly float[][] _weights; // [t][k * D + d]
    private readonly float[][] _biases; // [t][k]
    private int _predictCalls;
    private long _predictedRows;

    /// <summary>Creates a model with seeded random weights.</summary>
    public LinearMultiTaskModel(int channels, int height, int width, IReadOnlyList<TaskDefinition> tasks, WidthSet widths, int seed)
    {
        Channels = channels;
        Height = height;
        Width = width;
        Tasks = tasks.ToArray();
        Widths = widths;
        var rng = new Random(seed);
        int d = channels * height * width;
        _weights = Tasks.Select(t => Enumerable.Range(0, t.NumClasses * d).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray()).ToArray();
        _biases = Tasks.Select(t => Enumerable.Range(0, t.NumClasses).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray()).ToArray();
        Costs = BuildCosts();
    }

    private LinearMultiTaskModel(int c, int h, int w, TaskDefinition[] tasks, WidthSet widths, float[][] weights, float[][] biases)
    {
        Channels = c;
        Height = h;
        Width = w;
        Tasks = tasks;
        Widths = widths;
        _weights = weights;
        _biases = biases;
        Costs = BuildCosts();
    }

    /// <summary>Number of Predict calls so far (to check batching).</summary>
    public int PredictCalls => Volatile.Read(ref _predictCalls);

    /// <summary>Total rows passed to Predict so far.</summary>
    public long PredictedRows => Interlocked.Read(ref _predictedRows);

    /// <summary>Rows per Predict call so far, in call order (to check grouping by configuration).</summary>
    public System.Collections.Concurrent.ConcurrentQueue<(int Rows, ResolvedConfiguration Configuration)> Calls { get; } = new();

    /// <inheritdoc />
    public IReadOnlyList<TaskDefinition> Tasks { get; }

    /// <inheritdoc />
    public int Channels { get; }

    /// <inheritdoc />
    public int Height { get; }

    /// <inheritdoc />
    public int Width { get; }

    /// <summary>The width set.</summary>
    public WidthSet Widths { get; }

    /// <inheritdoc />
    public CostTable Costs { get; }

    private CostTable BuildCosts()
    {
        int d = Channels * Height * Width;
        double[][] enc = Widths.Multipliers.Select(w => new[] { w }).ToArray();
        long[] encMacs = Widths.Multipliers.Select(w => (long)Math.Round(1000 * w)).ToArray();
        long[][][] dec = Tasks.Select(t => Widths.Multipliers.Select(we => Widths.Multipliers.Select(wd => (long)Math.Round(d * t.NumClasses * we * wd)).ToArray()).ToArray()).ToArray();
        return new CostTable(Widths, Tasks.Select(t => t.Name).ToArray(), enc, encMacs, dec);
    }

    /// <inheritdoc />
    public ResolvedConfiguration SelectConfiguration(Budget budget, IReadOnlyList<double> taskPreferences)
    {
        double[] p = TaskPreferences.Normalize(taskPreferences, Tasks.Count);
        double limit = budget.Unit switch
        {
            BudgetUnit.FractionOfFullMacs => budget.Value * Costs.FullMacs,
            BudgetUnit.Macs => budget.Value,
            _ => budget.Value * 1000, // pretend 1000 MACs per millisecond
        };
        ResolvedConfiguration? best = null;
        double bestScore = double.NegativeInfinity;
        long bestMacs = long.MaxValue;
        int n = Widths.Count;
        int total = (int)Math.Pow(n, Tasks.Count);
        for (int e = 0; e < n; e++)
            for (int code = 0; code < total; code++)
            {
                var idx = new int[Tasks.Count];
                for (int t = 0, c = code; t < Tasks.Count; t++, c /= n) idx[t] = c % n;
                ResolvedConfiguration cfg = Costs.At(e, idx);
                long macs = cfg.Macs;
                if (macs > limit) continue;
                double score = 0;
                for (int t = 0; t < Tasks.Count; t++) score += p[t] * Widths[e] * Widths[idx[t]];
                if (score > bestScore || (score == bestScore && macs < bestMacs))
                {
                    best = cfg;
                    bestScore = score;
                    bestMacs = macs;
                }
            }
        if (best is not null) return best;
        long smallest = Costs.SmallestMacs;
        Budget feasible = budget.Unit switch
        {
            BudgetUnit.FractionOfFullMacs => Budget.FractionOfFull(Math.Min(1.0, (double)smallest / Costs.FullMacs)),
            BudgetUnit.Macs => Budget.Macs(smallest),
            _ => Budget.Milliseconds(smallest / 1000.0),
        };
        throw new BudgetInfeasibleException(budget, feasible, $" (below the smallest configuration, {smallest} MACs)");
    }

    /// <inheritdoc />
    public float[][] Predict(ReadOnlySpan<float> images, int count, ResolvedConfiguration configuration)
    {
        int d = Channels * Height * Width;
        if (images.Length != count * d) throw new ArgumentException($"{images.Length} floats for {count} images of {d}.");
        Interlocked.Increment(ref _predictCalls);
        Interlocked.Add(ref _predictedRows, count);
        Calls.Enqueue((count, configuration));
        var outputs = new float[Tasks.Count][];
        for (int t = 0; t < Tasks.Count; t++)
        {
            int k = Tasks[t].NumClasses;
            float scale = (float)(Widths[configuration.EncoderOption] * Widths[configuration.DecoderWidthIndex(t)]);
            var o = new float[count * k];
            for (int i = 0; i < count; i++)
            {
                ReadOnlySpan<float> x = images.Slice(i * d, d);
                float max = float.NegativeInfinity;
                for (int c = 0; c < k; c++)
                {
                    float z = _biases[t][c];
                    ReadOnlySpan<float> w = _weights[t].AsSpan(c * d, d);
                    for (int j = 0; j < d; j++) z += w[j] * x[j];
                    z *= scale;
                    o[i * k + c] = z;
                    max = Math.Max(max, z);
                }
                float sum = 0;
                for (int c = 0; c < k; c++) sum += o[i * k + c] = MathF.Exp(o[i * k + c] - max);
                for (int c = 0; c < k; c++) o[i * k + c] /= sum;
            }
            outputs[t] = o;
        }
        return outputs;
    }

    /// <inheritdoc />
    public void Save(Stream stream)
    {
        using var w = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(Magic);
        w.Write(Channels);
        w.Write(Height);
        w.Write(Width);
        w.Write(Widths.Count);
        foreach (double m in Widths.Multipliers) w.Write(m);
        w.Write(Tasks.Count);
        for (int t = 0; t < Tasks.Count; t++)
        {
            w.Write(Tasks[t].Name);
            w.Write(Tasks[t].NumClasses);
            foreach (string n in Tasks[t].ClassNames) w.Write(n);
            foreach (float x in _weights[t]) w.Write(x);
            foreach (float x in _biases[t]) w.Write(x);
        }
    }

    /// <summary>Reads what <see cref="Save"/> wrote.</summary>
    public static LinearMultiTaskModel Load(Stream stream)
    {
        using var r = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        if (r.ReadInt32() != Magic) throw new InvalidDataException("Not a LinearMultiTaskModel.");
        int c = r.ReadInt32(), h = r.ReadInt32(), wd = r.ReadInt32();
        var widths = new WidthSet(Enumerable.Range(0, r.ReadInt32()).Select(_ => r.ReadDouble()).ToArray());
        int tasks = r.ReadInt32();
        int d = c * h * wd;
        var defs = new TaskDefinition[tasks];
        var weights = new float[tasks][];
        var biases = new float[tasks][];
        for (int t = 0; t < tasks; t++)
        {
            string name = r.ReadString();
            int k = r.ReadInt32();
            string[] names = Enumerable.Range(0, k).Select(_ => r.ReadString()).ToArray();
            defs[t] = new TaskDefinition(name, TaskKind.Classification, k, names);
            weights[t] = Enumerable.Range(0, k * d).Select(_ => r.ReadSingle()).ToArray();
            biases[t] = Enumerable.Range(0, k).Select(_ => r.ReadSingle()).ToArray();
        }
        return new LinearMultiTaskModel(c, h, wd, defs, widths, weights, biases);
    }
}
