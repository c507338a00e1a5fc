using Microsoft.Extensions.ObjectPool;
using MLNetSlim.Architecture;

namespace MLNetSlim.Data;

/// <summary>
/// Recycles the arrays of host batches of one shape (capacity rows of C*H*W floats plus each task's labels) through
/// Microsoft.Extensions.ObjectPool, so that a pass over the data allocates a few batch buffers instead of one per batch.
/// Without it, every streamed 3x224x224 batch of 8 images allocated 4.8 MB on the large-object heap (and TorchSharp's
/// <c>tensor(float[])</c> cloned it into a second one), garbage that waits for a gen-2 collection: the streaming
/// benchmark's peak RSS grew with the row count (docs/benchmarks.md, "streaming"). Thread-safe (a reader thread rents,
/// the training thread returns).
/// </summary>
internal sealed class HostBatchPool
{
    private readonly ObjectPool<HostBatch> _pool;
    private int _created;

    /// <summary>Creates a pool of batches of <paramref name="capacity"/> rows that keeps at most
    /// <paramref name="retained"/> free buffers.</summary>
    public HostBatchPool(IReadOnlyList<TaskDefinition> tasks, int capacity, int channels, int height, int width, int retained)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _pool = new DefaultObjectPool<HostBatch>(new Policy(this, tasks.ToArray(), capacity, channels, height, width), retained);
    }

    /// <summary>Rows per batch buffer.</summary>
    public int Capacity { get; }

    /// <summary>Buffers allocated so far (a pass over any number of rows needs only a few).</summary>
    public int Created => Volatile.Read(ref _created);

    /// <summary>A free buffer of <see cref="Capacity"/> rows (contents undefined), allocated when none is free.</summary>
    public HostBatch Rent() => _pool.Get();

    /// <summary>Gives the arrays of <paramref name="batch"/> (or of the buffer it was cut from) back; the caller must
    /// not use the batch afterwards.</summary>
    public void Return(HostBatch batch) => _pool.Return(batch.Buffer);

    private sealed class Policy(HostBatchPool owner, TaskDefinition[] tasks, int capacity, int channels, int height, int width) : IPooledObjectPolicy<HostBatch>
    {
        public HostBatch Create()
        {
            Interlocked.Increment(ref owner._created);
            return HostBatch.Allocate(tasks, capacity, channels, height, width);
        }

        public bool Return(HostBatch obj) => obj.Count == capacity;
    }
}
