using System.Collections.Concurrent;
using MLNetSlim.Control;
using MLNetSlim.Architecture;

namespace MLNetSlim.Serving;

/// <summary>
/// The search's answers for (budget, task weights in task order) pairs seen in per-row control columns: a bounded,
/// thread-safe map. When it holds <c>capacity</c> entries it is cleared before the next one is added (a search takes
/// microseconds, so a client sending ever-new values costs one search per row, never unbounded memory).
/// </summary>
internal sealed class ConfigurationCache
{
    private readonly ConcurrentDictionary<Key, ResolvedConfiguration> _map = new();
    private readonly int _capacity;

    public ConfigurationCache(int capacity) => _capacity = capacity;

    /// <summary>Entries now held.</summary>
    public int Count => _map.Count;

    /// <summary>The configuration for <paramref name="budget"/> and <paramref name="weights"/> (validated, task order;
    /// the array must not change afterwards).</summary>
    /// <param name="budget">The budget.</param>
    /// <param name="weights">The task weights in task order.</param>
    /// <param name="search">The search asked on a miss (the model's <c>SelectConfiguration</c>).</param>
    /// <exception cref="BudgetInfeasibleException">From the search (not cached).</exception>
    public ResolvedConfiguration GetOrAdd(Budget budget, double[] weights, Func<Budget, double[], ResolvedConfiguration> search)
    {
        var key = new Key(budget, weights);
        if (_map.TryGetValue(key, out ResolvedConfiguration? hit)) return hit;
        ResolvedConfiguration c = search(budget, weights);
        if (_map.Count >= _capacity) _map.Clear();
        _map.TryAdd(key, c);
        return c;
    }

    private readonly struct Key : IEquatable<Key>
    {
        private readonly Budget _budget;
        private readonly double[] _weights;
        private readonly int _hash;

        public Key(Budget budget, double[] weights)
        {
            _budget = budget;
            _weights = weights;
            var h = new HashCode();
            h.Add(budget);
            foreach (double w in weights) h.Add(w);
            _hash = h.ToHashCode();
        }

        public bool Equals(Key other) => _hash == other._hash && _budget.Equals(other._budget) && _weights.AsSpan().SequenceEqual(other._weights);

        public override bool Equals(object? obj) => obj is Key k && Equals(k);

        public override int GetHashCode() => _hash;
    }
}
