using System.Collections.Concurrent;
using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetSlim.Architecture;
using MLNetSlim.Data;

namespace MLNetSlim.MLNet;

/// <summary>
/// Streams batches from an <see cref="IDataView"/> cursor (issue 10): nothing but a shuffle buffer and a few batches
/// are in memory at any time.
/// <list type="bullet">
/// <item>Shuffled passes (training) read the rows in source order through a shuffle buffer of
/// <c>shuffleBufferRows</c> rows: the first rows fill it, then every row read replaces a uniformly drawn (seeded)
/// buffered row, which goes to the batch; at the end the buffer empties in random order. A row can thus move at most
/// about the buffer size away from its source position between epochs, which is the usual streaming trade-off; a
/// buffer at least as large as the data is a full shuffle.</item>
/// <item>A background reader fills the next batches while the current step runs (bounded prefetch of
/// <see cref="PrefetchBatches"/> batches; the reader blocks when they are full). Batch buffers are recycled
/// (<see cref="HostBatchPool"/>: a batch goes back when the consumer moves on), and the shuffle buffer is allocated once
/// and kept for later passes, so a pass allocates no per-batch arrays.</item>
/// <item>Every row is checked as it is read (<see cref="DataViewConversion.RowReader"/>): the features vector's length,
/// finite values, label-map sizes and values; a missing key label (key 0) is no error but class index
/// <see cref="MultiTaskDataset.MissingLabel"/>, ignored by the task's loss and metrics.
/// A bad row throws an <see cref="InvalidOperationException"/> naming the column, the row (0-based position in the
/// IDataView) and the value, before the optimiser step that would use its batch.</item>
/// <item>An optional row mask selects the rows of the pass by source position (the seeded held-out split).</item>
/// </list>
/// </summary>
internal sealed class DataViewBatches : IMultiTaskBatches
{
    /// <summary>Batches read ahead of the one in use.</summary>
    public const int PrefetchBatches = 2;

    private readonly IDataView _data;
    private readonly ControllableMultiTaskEstimator.Options _options;
    private readonly string _argument;
    private readonly bool[]? _include;
    private readonly bool _includeValue;
    private readonly int _shuffleBufferRows;
    private readonly Func<bool>? _canceled;

    public DataViewBatches(IDataView data, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks, int count,
        int shuffleBufferRows, bool[]? include = null, bool includeValue = true, Func<bool>? canceled = null, string argument = "input")
    {
        _data = data;
        _options = options;
        _argument = argument;
        Tasks = tasks.ToArray();
        _ = new DataViewConversion.RowReader(data.Schema, options, Tasks, argument); // checks the columns now, not in the reader thread
        Channels = options.ImageChannels;
        Height = options.ImageHeight;
        Width = options.ImageWidth;
        Count = count;
        _shuffleBufferRows = Math.Max(1, shuffleBufferRows);
        _include = include;
        _includeValue = includeValue;
        _canceled = canceled;
    }

    public int Channels { get; }

    public int Height { get; }

    public int Width { get; }

    public IReadOnlyList<TaskDefinition> Tasks { get; }

    public int Count { get; }

    /// <summary>Rows in the shuffle buffer of shuffled passes.</summary>
    public int ShuffleBufferRows => _shuffleBufferRows;

    /// <summary>Counts the rows of <paramref name="data"/>: its row count when known, else one cursor pass over the
    /// first label column only.</summary>
    public static long CountRows(IDataView data, DataViewSchema.Column anyColumn)
    {
        if (data.GetRowCount() is long known) return known;
        long n = 0;
        using DataViewRowCursor cursor = data.GetRowCursor(new[] { anyColumn });
        while (cursor.MoveNext()) n++;
        return n;
    }

    public IEnumerable<HostBatch> Batches(int batchSize, Random? shuffle, bool dropLast, int take = int.MaxValue)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        // The reader draws from its own Random (seeded from the caller's), so the pass is reproducible whatever the
        // thread timing; the caller's Random advances once per pass.
        int? seed = shuffle?.Next();
        int capacity = (int)Math.Max(1, Math.Min(batchSize, Math.Min((long)take, Count)));
        HostBatchPool pool = PoolFor(capacity);
        using var queue = new BlockingCollection<HostBatch>(PrefetchBatches);
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        Task reader = Task.Factory.StartNew(() =>
        {
            try
            {
                Read(queue, pool, batchSize, seed is int s ? new Random(s) : null, dropLast, take, stop.Token);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                failure = e;
            }
            finally
            {
                queue.CompleteAdding();
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        try
        {
            while (true)
            {
                if (_canceled?.Invoke() == true) throw new OperationCanceledException("Training was cancelled (MLContext.CancelExecution).");
                if (!queue.TryTake(out HostBatch? batch, Timeout.Infinite)) break;
                yield return batch;
                pool.Return(batch); // the consumer moved on
            }
            reader.Wait();
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        finally
        {
            stop.Cancel();
            try { reader.Wait(); } catch (AggregateException) { }
        }
    }

    private HostBatchPool? _pool;
    private HostBatch? _shuffleBuffer;

    /// <summary>Batch buffers of <paramref name="capacity"/> rows, kept across passes: the prefetched batches, the one
    /// being filled, the one in use and one more.</summary>
    private HostBatchPool PoolFor(int capacity)
    {
        HostBatchPool? pool = _pool;
        if (pool is null || pool.Capacity != capacity)
            _pool = pool = new HostBatchPool(Tasks, capacity, Channels, Height, Width, retained: PrefetchBatches + 2);
        return pool;
    }

    /// <summary>Batch buffers allocated by this source so far (tests: a pass over any number of rows allocates only a
    /// few).</summary>
    internal int BatchBuffersCreated => _pool?.Created ?? 0;

    private void Read(BlockingCollection<HostBatch> queue, HostBatchPool batches, int batchSize, Random? shuffle, bool dropLast, int take, CancellationToken stop)
    {
        int size = Channels * Height * Width;
        var reader = new DataViewConversion.RowReader(_data.Schema, _options, Tasks, _argument);
        using DataViewRowCursor cursor = _data.GetRowCursor(reader.Columns);
        reader.Bind(cursor);

        int bufferRows = shuffle is null ? 0 : _shuffleBufferRows;
        // The shuffle buffer is allocated on the first shuffled pass and reused by the later ones (one pass at a time:
        // a concurrent pass takes it out and allocates its own).
        HostBatch? buffer = bufferRows > 0 ? Interlocked.Exchange(ref _shuffleBuffer, null) ?? HostBatch.Allocate(Tasks, bufferRows, Channels, Height, Width) : null;
        HostBatch scratch = HostBatch.Allocate(Tasks, 1, Channels, Height, Width);
        int pooled = 0;

        HostBatch batch = batches.Rent();
        int inBatch = 0, emitted = 0;

        void Emit(HostBatch from, int index)
        {
            if (inBatch == batch.Count)
            {
                // The buffers hold min(batch size, Count) rows; a source with more rows than Count said needs a full one
                // (not pooled: the pool takes back only its own size).
                HostBatch bigger = HostBatch.Allocate(Tasks, batchSize, Channels, Height, Width);
                for (int i = 0; i < inBatch; i++) batch.CopyRow(i, bigger, i, size);
                batches.Return(batch);
                batch = bigger;
            }
            from.CopyRow(index, batch, inBatch, size);
            inBatch++;
            emitted++;
            if (inBatch == batchSize)
            {
                queue.Add(batch, stop);
                batch = batches.Rent();
                inBatch = 0;
            }
        }

        long row = -1;
        while (emitted < take && cursor.MoveNext())
        {
            row++;
            stop.ThrowIfCancellationRequested();
            if (_include is not null && (row >= _include.Length || _include[row] != _includeValue)) continue;
            if (buffer is not null && pooled < bufferRows)
            {
                if (reader.Read(row, buffer, pooled)) pooled++;
                continue;
            }
            if (!reader.Read(row, scratch, 0)) continue;
            if (buffer is null) { Emit(scratch, 0); continue; }
            int j = shuffle!.Next(bufferRows);
            Emit(buffer, j);
            scratch.CopyRow(0, buffer, j, size);
        }
        // Empty the buffer in random order.
        for (int left = pooled; left > 0 && emitted < take; left--)
        {
            int j = shuffle!.Next(left);
            Emit(buffer!, j);
            buffer!.CopyRow(left - 1, buffer, j, size); // move the last live row into the hole
        }
        if (inBatch > 0 && !dropLast) queue.Add(batch.WithCount(inBatch), stop);
        else batches.Return(batch);
        if (buffer is not null) _shuffleBuffer = buffer;
    }
}
