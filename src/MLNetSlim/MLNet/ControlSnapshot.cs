using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.MLNet;

/// <summary>
/// The control of a <see cref="ControllableMultiTaskTransformer"/> at one moment, as one immutable value: the budget,
/// the task weights, and the configuration the search chose for exactly that pair, with its MACs. Made by
/// <see cref="ControllableMultiTaskTransformer.SetControl"/> (and its <c>Budget</c>/<c>TaskWeights</c> shorthands);
/// read with <see cref="ControllableMultiTaskTransformer.Control"/>.
/// </summary>
public sealed class ControlSnapshot
{
    private readonly double[] _weights;

    internal ControlSnapshot(Budget budget, double[] weights, IReadOnlyList<TaskDefinition> tasks, ResolvedConfiguration selected)
    {
        Budget = budget;
        _weights = weights;
        Selected = selected;
        TaskWeights = tasks.Select((t, i) => (t.Name, weights[i])).ToDictionary(p => p.Name, p => p.Item2, StringComparer.Ordinal);
    }

    /// <summary>The compute budget.</summary>
    public Budget Budget { get; }

    /// <summary>The task weights as set (not normalised), listing every task.</summary>
    public IReadOnlyDictionary<string, double> TaskWeights { get; }

    /// <summary>The configuration the search chose for <see cref="Budget"/> and <see cref="TaskWeights"/>, as the forward
    /// pass runs it (encoder option, decoder width indices, MACs).</summary>
    public ResolvedConfiguration Selected { get; }

    /// <summary>The chosen configuration as width multipliers.</summary>
    public WidthConfiguration Configuration => Selected.Widths;

    /// <summary>Exact MACs per image of the chosen configuration.</summary>
    public long Macs => Selected.Macs;

    /// <summary>The weights in task order (not normalised); do not modify.</summary>
    internal double[] Weights => _weights;

    /// <summary>"0.5 of full MACs, weights {A: 1, B: 0} -> enc=0.5 dec=1,0.25 (123 MACs)".</summary>
    public override string ToString() =>
        $"{Budget}, weights {{{string.Join(", ", TaskWeights.Select(p => $"{p.Key}: {p.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}"))}}} -> {Configuration} ({Macs} MACs)";
}
