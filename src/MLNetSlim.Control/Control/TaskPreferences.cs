namespace MLNetSlim.Control;

/// <summary>
/// Validation and normalisation of task-preference (task weight) vectors for runtime control (ECMT, ICCV 2023:
/// "relative importance of task performances"). Preferences are non-negative weights, one per task, normalised to sum 1.
/// This class is the one place task weights are validated; every entry point (the search, the model, the ML.NET
/// transformer and its per-row column) goes through it, with one convention (see docs/control.md):
/// <list type="bullet">
/// <item><see cref="ArgumentOutOfRangeException"/> for a bad value: a weight that is negative, NaN or infinite, all
/// weights zero, or a sum that overflows;</item>
/// <item><see cref="ArgumentException"/> (the base type) for a bad shape: a task name that is not a task, or a vector
/// whose length is not the number of tasks.</item>
/// </list>
/// </summary>
public static class TaskPreferences
{
    /// <summary>
    /// Parses task weights written as text, the companion of <see cref="Budget.Parse"/>: <c>"digit:0.8,fashion:0.2"</c>
    /// or <c>"digit=0.8,fashion=0.2"</c> (invariant culture). Tasks not listed weigh 0. Only the format is checked here;
    /// the values are validated where the weights are applied (<see cref="Normalize(IReadOnlyDictionary{string, double}, IReadOnlyList{string})"/>).
    /// </summary>
    /// <param name="text">Comma-separated <c>task:number</c> or <c>task=number</c> pairs.</param>
    /// <returns>Weights by task name (ordinal).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="text"/> is null.</exception>
    /// <exception cref="FormatException">Not a comma-separated list of task:number, or no task listed.</exception>
    public static Dictionary<string, double> ParseTaskWeights(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var weights = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] pair = part.Split(':', '=');
            if (pair.Length != 2 || pair[0].Trim().Length == 0
                || !double.TryParse(pair[1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double weight))
                throw new FormatException($"Task weights '{text}': '{part}' is not task:number (example: digit:0.8,fashion:0.2).");
            weights[pair[0].Trim()] = weight;
        }
        if (weights.Count == 0) throw new FormatException($"Task weights '{text}' list no task (example: digit:0.8,fashion:0.2).");
        return weights;
    }

    /// <summary>
    /// Turns weights by task name into a normalised vector in task order. Tasks not named get weight 0 (so
    /// <c>{ ["depth"] = 1 }</c> means "only depth matters"; the other decoders then only get budget the preferred
    /// tasks cannot use, see docs/control.md).
    /// </summary>
    /// <param name="weights">Non-negative finite weights by task name (ordinal, case-sensitive).</param>
    /// <param name="taskNames">The network's task names in task order.</param>
    /// <returns>Weights in task order, summing to 1.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A name is not a task (the message names it and the known tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative, NaN or infinite, or all weights are zero.</exception>
    public static double[] Normalize(IReadOnlyDictionary<string, double> weights, IReadOnlyList<string> taskNames) =>
        NormalizeInPlace(InTaskOrder(weights, taskNames));

    /// <summary>
    /// Validates weights by task name and returns them in task order, NOT normalised (tasks not named get 0).
    /// </summary>
    /// <param name="weights">Non-negative finite weights by task name (ordinal, case-sensitive).</param>
    /// <param name="taskNames">The network's task names in task order.</param>
    /// <returns>A new array, one weight per task, at least one positive.</returns>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">A name is not a task (the message names it and the known tasks).</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative, NaN or infinite, or all weights are zero.</exception>
    public static double[] InTaskOrder(IReadOnlyDictionary<string, double> weights, IReadOnlyList<string> taskNames)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(taskNames);
        var p = new double[taskNames.Count];
        foreach (var (name, value) in weights)
        {
            int t = -1;
            for (int i = 0; i < taskNames.Count; i++)
                if (string.Equals(taskNames[i], name, StringComparison.Ordinal)) { t = i; break; }
            if (t < 0)
                throw new ArgumentException($"Unknown task '{name}' in the task weights; the tasks are [{string.Join(", ", taskNames)}].", nameof(weights));
            CheckWeight(value, "task '" + name + "'");
            p[t] = value;
        }
        CheckSum(p);
        return p;
    }

    /// <summary>Normalises weights given in task order.</summary>
    /// <param name="weights">One non-negative finite weight per task.</param>
    /// <param name="taskCount">The network's number of tasks.</param>
    /// <returns>A new array summing to 1.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative, NaN or infinite, or all weights are zero.</exception>
    public static double[] Normalize(IReadOnlyList<double> weights, int taskCount) => NormalizeInPlace(InTaskOrder(weights, taskCount));

    /// <summary>Validates weights given in task order and returns a copy, NOT normalised.</summary>
    /// <param name="weights">One non-negative finite weight per task.</param>
    /// <param name="taskCount">The network's number of tasks.</param>
    /// <returns>A new array, at least one weight positive.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="weights"/> is null.</exception>
    /// <exception cref="ArgumentException">Wrong length.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A weight is negative, NaN or infinite, or all weights are zero.</exception>
    public static double[] InTaskOrder(IReadOnlyList<double> weights, int taskCount)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count != taskCount)
            throw new ArgumentException($"{weights.Count} task weights for {taskCount} tasks; give one weight per task, in task order.", nameof(weights));
        var p = new double[taskCount];
        for (int t = 0; t < taskCount; t++)
        {
            CheckWeight(weights[t], "task " + t);
            p[t] = weights[t];
        }
        CheckSum(p);
        return p;
    }

    /// <summary>The rule as text, for error messages: "non-negative finite numbers, at least one positive".</summary>
    public const string ValidRange = "non-negative finite numbers, at least one positive";

    /// <summary>
    /// The value rule without throwing: null when every weight is a non-negative finite number, at least one is
    /// positive and the sum is finite; otherwise the reason (e.g. "the weight of task 1 is -1; weights must be
    /// non-negative finite numbers"). Used by the throwing methods and by callers that report the problem in their
    /// own terms (the ML.NET per-row column).
    /// </summary>
    public static string? Problem(ReadOnlySpan<double> weights)
    {
        double sum = 0;
        for (int t = 0; t < weights.Length; t++)
        {
            double w = weights[t];
            if (!double.IsFinite(w) || w < 0)
                return $"the weight of task {t} is {w.ToString(System.Globalization.CultureInfo.InvariantCulture)}; weights must be non-negative finite numbers";
            sum += w;
        }
        if (!(sum > 0)) return "all weights are zero; at least one must be positive";
        if (double.IsInfinity(sum)) return "the weights overflow (their sum is infinite)";
        return null;
    }

    private static void CheckWeight(double value, string what)
    {
        if (!double.IsFinite(value) || value < 0)
            throw new ArgumentOutOfRangeException("weights", value, $"The weight of {what} must be a non-negative finite number.");
    }

    private static void CheckSum(double[] p)
    {
        if (Problem(p) is string problem) throw new ArgumentOutOfRangeException("weights", "Invalid task weights: " + problem + ".");
    }

    private static double[] NormalizeInPlace(double[] p)
    {
        double sum = 0;
        foreach (double v in p) sum += v;
        for (int t = 0; t < p.Length; t++) p[t] /= sum;
        return p;
    }
}
