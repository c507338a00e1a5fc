using MLNetSlim.Architecture;

namespace MLNetSlim.Control;

/// <summary>
/// Separable cost of every configuration in one unit (MACs or ms): cost(e, d) = Enc[e] + sum_t Dec[e][t][d_t], always
/// summed in that order (so a cost computed here is bit-identical wherever it is computed), plus the conversion of a
/// <see cref="Budget"/> to a capacity in this unit. Internal helper of the controllers.
/// </summary>
internal sealed class CostModel
{
    public CostModel(CostTable costs, LatencyTable? latency)
    {
        Costs = costs;
        IsLatency = latency is not null;
        E = costs.EncoderOptionCount;
        T = costs.TaskCount;
        W = costs.DecoderWidths.Count;
        Enc = new double[E];
        Dec = new double[E][][];
        MinDec = new double[E][];
        Excess = new double[E][][];
        MinTotal = new double[E];
        MaxExcessSum = new double[E];
        for (int e = 0; e < E; e++)
        {
            Enc[e] = latency is null ? costs.EncoderMacs(e) : latency.OverheadMs + latency.EncoderMs(e);
            Dec[e] = new double[T][];
            MinDec[e] = new double[T];
            Excess[e] = new double[T][];
            double total = Enc[e];
            for (int t = 0; t < T; t++)
            {
                Dec[e][t] = new double[W];
                for (int d = 0; d < W; d++) Dec[e][t][d] = latency is null ? costs.DecoderMacs(t, e, d) : latency.DecoderMs(t, e, d);
                MinDec[e][t] = Dec[e][t].Min();
                Excess[e][t] = Dec[e][t].Select(c => c - MinDec[e][t]).ToArray();
                total += MinDec[e][t];
                MaxExcessSum[e] += Excess[e][t].Max();
            }
            MinTotal[e] = total;
        }
        Smallest = MinTotal.Min();
        FullMacs = costs.FullMacs;
    }

    public CostTable Costs { get; }
    public bool IsLatency { get; }
    public int E { get; }
    public int T { get; }
    public int W { get; }
    public double[] Enc { get; }
    public double[][][] Dec { get; }
    public double[][] MinDec { get; }
    public double[][][] Excess { get; }
    /// <summary>Cheapest configuration cost at each encoder option.</summary>
    public double[] MinTotal { get; }
    public double[] MaxExcessSum { get; }
    public double Smallest { get; }
    public long FullMacs { get; }

    public double Cost(int e, IReadOnlyList<int> d)
    {
        double c = Enc[e];
        for (int t = 0; t < T; t++) c += Dec[e][t][d[t]];
        return c;
    }

    /// <summary>Capacity in this model's unit for a budget; for a fraction, the largest integer MACs M with
    /// M &lt;= f * full and M / full &lt;= f, so that an integer cost within the capacity is within the budget in
    /// both readings.</summary>
    public double Capacity(Budget budget) => budget.Unit switch
    {
        BudgetUnit.FractionOfFullMacs => FractionCapacity(budget.Value, FullMacs),
        _ => budget.Value,
    };

    /// <summary>The cost in the budget's unit.</summary>
    public double CostInUnit(double cost, BudgetUnit unit) => unit == BudgetUnit.FractionOfFullMacs ? cost / FullMacs : cost;

    public static double FractionCapacity(double fraction, long full)
    {
        double m = Math.Floor(fraction * full);
        while (m > 0 && (m / full > fraction || m > fraction * full)) m--;
        while ((m + 1) / full <= fraction && m + 1 <= fraction * full) m++;
        return m;
    }

    /// <summary>The exception for a budget below <paramref name="smallestCost"/> (in this model's unit), stating the
    /// smallest feasible budget in the request's unit.</summary>
    public BudgetInfeasibleException Infeasible(Budget requested, double smallestCost)
    {
        switch (requested.Unit)
        {
            case BudgetUnit.FractionOfFullMacs:
                double f = smallestCost / FullMacs;
                while (FractionCapacity(f, FullMacs) < smallestCost) f = Math.BitIncrement(f);
                return new BudgetInfeasibleException(requested, Budget.FractionOfFull(Math.Min(1.0, f)),
                    $" (= {smallestCost.ToString("0", System.Globalization.CultureInfo.InvariantCulture)} of {FullMacs} MACs)");
            case BudgetUnit.Macs:
                return new BudgetInfeasibleException(requested, Budget.Macs(smallestCost));
            default:
                return new BudgetInfeasibleException(requested, Budget.Milliseconds(smallestCost), " (predicted by the latency table)");
        }
    }

    public SearchResult Result(int e, int[] d, Budget budget, double[] preferences, CalibrationTable calibration, LatencyTable? latency)
    {
        ResolvedConfiguration c = Costs.At(e, d);
        double cost = CostInUnit(Cost(e, d), budget.Unit);
        return new SearchResult(c, (double)c.Macs / FullMacs, latency?.PredictMs(e, d), budget, cost,
            calibration.Relative(e, d), preferences);
    }
}
