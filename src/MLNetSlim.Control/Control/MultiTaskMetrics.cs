namespace MLNetSlim.Control;

/// <summary>Multi-task and controllability metrics (see docs/control.md and the project's method notes).</summary>
internal static class MultiTaskMetrics
{
    /// <summary>
    /// Spearman rank correlation: the Pearson correlation of the ranks of <paramref name="x"/> and
    /// <paramref name="y"/>, tied values receiving the average of the ranks they span (Spearman 1904; the standard
    /// tie correction). Defined as 0 when either side is constant (its ranks have zero variance, so the correlation is
    /// undefined) or has fewer than 2 elements. Range [-1, 1].
    /// </summary>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Different lengths, or a NaN value.</exception>
    public static double Spearman(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Count != y.Count) throw new ArgumentException($"Spearman needs equal lengths, got {x.Count} and {y.Count}.", nameof(y));
        if (x.Any(double.IsNaN) || y.Any(double.IsNaN)) throw new ArgumentException("Spearman is undefined for NaN values.");
        if (x.Count < 2) return 0;
        double[] rx = Ranks(x), ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            double a = rx[i] - mx, b = ry[i] - my;
            sxy += a * b;
            sxx += a * a;
            syy += b * b;
        }
        if (sxx == 0 || syy == 0) return 0;
        return Math.Clamp(sxy / Math.Sqrt(sxx * syy), -1, 1);
    }

    /// <summary>1-based ranks with ties averaged ("fractional ranking").</summary>
    /// <exception cref="ArgumentNullException"><paramref name="values"/> is null.</exception>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        int n = values.Count;
        int[] order = Enumerable.Range(0, n).OrderBy(i => values[i]).ToArray();
        var ranks = new double[n];
        for (int i = 0; i < n;)
        {
            int j = i;
            while (j + 1 < n && values[order[j + 1]] == values[order[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) ranks[order[k]] = avg;
            i = j + 1;
        }
        return ranks;
    }

    /// <summary>
    /// DYMU's uniformity (Raychaudhuri et al., "Controllable Dynamic Multi-Task Architectures", CVPR 2022):
    /// 1 - KL(Lhat || U), Lhat_j = p_j L_j / sum_i p_i L_i, U uniform over the T tasks, natural logarithm. It is 1 when
    /// the preference-weighted losses are equal (a preferred task got a proportionally smaller loss) and falls to
    /// 1 - ln T when one task carries all the weighted loss. With 0 ln 0 = 0. When sum_i p_i L_i = 0 (no weighted loss
    /// at all, e.g. the full configuration with relative losses) the value is defined as 1. The controllability
    /// evaluator uses the relative loss L_j = max(0, 1 - P_j) (P_j = fraction of full performance).
    /// </summary>
    /// <param name="preferences">Non-negative preferences p (need not sum to 1).</param>
    /// <param name="losses">Non-negative losses L, same length.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Different lengths, empty, or a negative / non-finite value.</exception>
    public static double Uniformity(IReadOnlyList<double> preferences, IReadOnlyList<double> losses)
    {
        ArgumentNullException.ThrowIfNull(preferences);
        ArgumentNullException.ThrowIfNull(losses);
        int n = preferences.Count;
        if (n == 0 || losses.Count != n) throw new ArgumentException($"Uniformity needs equal non-zero lengths, got {n} and {losses.Count}.", nameof(losses));
        double sum = 0;
        for (int j = 0; j < n; j++)
        {
            if (!double.IsFinite(preferences[j]) || preferences[j] < 0) throw new ArgumentException($"Preference {j} is {preferences[j]}; must be non-negative.", nameof(preferences));
            if (!double.IsFinite(losses[j]) || losses[j] < 0) throw new ArgumentException($"Loss {j} is {losses[j]}; must be non-negative.", nameof(losses));
            sum += preferences[j] * losses[j];
        }
        if (sum == 0) return 1;
        double kl = 0;
        for (int j = 0; j < n; j++)
        {
            double l = preferences[j] * losses[j] / sum;
            if (l > 0) kl += l * Math.Log(l * n);
        }
        return 1 - kl;
    }

    /// <summary>
    /// Hypervolume of the region of [0, 1]^T dominated by the points, w.r.t. reference point 0 (the Lebesgue measure
    /// of the union of the boxes [0, x_i]; Zitzler and Thiele 1998). Exact for T = 1, 2 (sweep) and 3 (slicing along
    /// the last axis into 2-D sweeps, O(n^2 log n)); for T &gt;= 4 exact by inclusion-exclusion over subsets when
    /// there are at most 16 points, otherwise a Monte Carlo estimate with <paramref name="monteCarloSamples"/> uniform
    /// points from a <see cref="Random"/> seeded with <paramref name="seed"/> (standard error at most
    /// 0.5 / sqrt(samples)). Result in [0, 1]; 0 for no points.
    /// </summary>
    /// <param name="points">Points, each of the same dimension T, coordinates in [0, 1].</param>
    /// <param name="monteCarloSamples">Samples for the Monte Carlo case (default 200000).</param>
    /// <param name="seed">Seed for the Monte Carlo case.</param>
    /// <exception cref="ArgumentNullException"><paramref name="points"/> is null.</exception>
    /// <exception cref="ArgumentException">Points of different dimensions or a dimension of 0.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A coordinate outside [0, 1] or NaN, or samples below 1.</exception>
    public static double Hypervolume(IReadOnlyList<IReadOnlyList<double>> points, int monteCarloSamples = 200_000, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(points);
        ArgumentOutOfRangeException.ThrowIfLessThan(monteCarloSamples, 1);
        if (points.Count == 0) return 0;
        int dim = points[0].Count;
        if (dim == 0) throw new ArgumentException("Points need at least one coordinate.", nameof(points));
        var p = new double[points.Count][];
        for (int i = 0; i < points.Count; i++)
        {
            if (points[i].Count != dim) throw new ArgumentException($"Point {i} has {points[i].Count} coordinates; point 0 has {dim}.", nameof(points));
            p[i] = points[i].ToArray();
            foreach (double v in p[i])
                if (!(v >= 0 && v <= 1)) throw new ArgumentOutOfRangeException(nameof(points), v, $"Coordinates of point {i} must be in [0, 1].");
        }
        switch (dim)
        {
            case 1: return p.Max(x => x[0]);
            case 2: return Hv2(p.Select(x => (x[0], x[1])).ToList());
            case 3: return Hv3(p);
        }
        if (p.Length <= 16) return InclusionExclusion(p, dim);
        var rng = new Random(seed);
        var u = new double[dim];
        long hits = 0;
        for (int s = 0; s < monteCarloSamples; s++)
        {
            for (int k = 0; k < dim; k++) u[k] = rng.NextDouble();
            foreach (double[] x in p)
            {
                bool inside = true;
                for (int k = 0; k < dim && inside; k++) inside = u[k] <= x[k];
                if (inside) { hits++; break; }
            }
        }
        return (double)hits / monteCarloSamples;
    }

    private static double Hv2(List<(double X, double Y)> pts)
    {
        pts.Sort((a, b) => b.X != a.X ? b.X.CompareTo(a.X) : b.Y.CompareTo(a.Y));
        double area = 0, maxY = 0;
        foreach (var (x, y) in pts)
            if (y > maxY) { area += x * (y - maxY); maxY = y; }
        return area;
    }

    private static double Hv3(double[][] p)
    {
        double[][] byZ = p.OrderByDescending(x => x[2]).ToArray();
        double vol = 0;
        var slice = new List<(double, double)>();
        for (int i = 0; i < byZ.Length; i++)
        {
            slice.Add((byZ[i][0], byZ[i][1]));
            double zHere = byZ[i][2], zNext = i + 1 < byZ.Length ? byZ[i + 1][2] : 0;
            if (zHere > zNext) vol += (zHere - zNext) * Hv2(new List<(double, double)>(slice));
        }
        return vol;
    }

    private static double InclusionExclusion(double[][] p, int dim)
    {
        int n = p.Length;
        double total = 0;
        var m = new double[dim];
        for (int mask = 1; mask < 1 << n; mask++)
        {
            Array.Fill(m, 1.0);
            int bits = 0;
            for (int i = 0; i < n; i++)
                if ((mask & (1 << i)) != 0)
                {
                    bits++;
                    for (int k = 0; k < dim; k++) m[k] = Math.Min(m[k], p[i][k]);
                }
            double vol = 1;
            for (int k = 0; k < dim; k++) vol *= m[k];
            total += (bits % 2 == 1 ? 1 : -1) * vol;
        }
        return total;
    }

    /// <summary>
    /// Delta-MTL in percent (Maninis et al., "Attentive Single-Tasking of Multiple Tasks", CVPR 2019; Vandenhende et
    /// al., "Multi-Task Learning for Dense Prediction Tasks: A Survey", TPAMI 2021): the mean over tasks of
    /// (-1)^{l_t} (M_t - M_ref,t) / M_ref,t x 100, l_t = 1 when lower is better. Positive = better than the reference.
    /// </summary>
    /// <param name="metrics">Per-task metric of the model evaluated.</param>
    /// <param name="reference">Per-task metric of the reference (single-task networks, or the full configuration).</param>
    /// <param name="lowerIsBetter">Per task: true for RMSE-like metrics.</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">Lengths differ or are 0, a value is not finite, or a reference is 0.</exception>
    public static double DeltaMtl(IReadOnlyList<double> metrics, IReadOnlyList<double> reference, IReadOnlyList<bool> lowerIsBetter)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(lowerIsBetter);
        int n = metrics.Count;
        if (n == 0 || reference.Count != n || lowerIsBetter.Count != n)
            throw new ArgumentException($"Delta-MTL needs equal non-zero lengths, got {n}, {reference.Count} and {lowerIsBetter.Count}.");
        double sum = 0;
        for (int t = 0; t < n; t++)
        {
            if (!double.IsFinite(metrics[t]) || !double.IsFinite(reference[t])) throw new ArgumentException($"Task {t} has a non-finite metric.");
            if (reference[t] == 0) throw new ArgumentException($"Task {t}'s reference metric is 0; the relative change is undefined.", nameof(reference));
            double rel = (metrics[t] - reference[t]) / reference[t];
            sum += lowerIsBetter[t] ? -rel : rel;
        }
        return sum / n * 100;
    }
}
