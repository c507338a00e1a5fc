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
/// <see cref="PrefetchBatches"/> batches; the reader blocks when they are full).</item>
/// <item>Every row is checked as it is read: the features vector's length, finite values, labels not missing (key 0).
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
    private readonly DataViewSchema.Column _features;
    private readonly DataViewSchema.Column[] _labels;
    private readonly bool[]? _include;
    private readonly bool _includeValue;
    private readonly int _shuffleBufferRows;
    private readonly Func<bool>? _canceled;
    private readonly bool _skipNonFinite;

    public DataViewBatches(IDataView data, ControllableMultiTaskEstimator.Options options, IReadOnlyList<TaskDefinition> tasks, int count,
        int shuffleBufferRows, bool[]? include = null, bool includeValue = true, Func<bool>? canceled = null, string argument = "input")
    {
        _data = data;
        _features = SchemaChecks.FeatureColumn(data.Schema, options.FeatureColumnName, options.ImageChannels, options.ImageHeight, options.ImageWidth, argument);
        _labels = new DataViewSchema.Column[tasks.Count];
        for (int t = 0; t < tasks.Count; t++)
            _labels[t] = SchemaChecks.LabelColumn(data.Schema, tasks[t].Name, options.Tasks[t].EffectiveLabelColumnName, argument);
        Channels = options.ImageChannels;
        Height = options.ImageHeight;
        Width = options.ImageWidth;
        Tasks = tasks.ToArray();
        Count = count;
        _shuffleBufferRows = Math.Max(1, shuffleBufferRows);
        _include = include;
        _includeValue = includeValue;
        _canceled = canceled;
        _skipNonFinite = options.SkipNonFiniteRows;
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
        using var queue = new BlockingCollection<HostBatch>(PrefetchBatches);
        using var stop = new CancellationTokenSource();
        Exception? failure = null;
        Task reader = Task.Factory.StartNew(() =>
        {
            try
            {
                Read(queue, batchSize, seed is int s ? new Random(s) : null, dropLast, take, stop.Token);
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

    private void Read(BlockingCollection<HostBatch> queue, int batchSize, Random? shuffle, bool dropLast, int take, CancellationToken stop)
    {
        int size = Channels * Height * Width, tasks = _labels.Length;
        using DataViewRowCursor cursor = _data.GetRowCursor(_labels.Append(_features));
        ValueGetter<VBuffer<float>> getFeatures = cursor.GetGetter<VBuffer<float>>(_features);
        Func<ulong>[] getLabels = _labels.Select(c => KeyGetter(cursor, c)).ToArray();
        VBuffer<float> buffer = default;

        int bufferRows = shuffle is null ? 0 : _shuffleBufferRows;
        var pool = new float[bufferRows * size];
        var poolLabels = new long[bufferRows * tasks];
        int pooled = 0;

        float[] images = new float[batchSize * size];
        long[][] labels = NewLabels(tasks, batchSize);
        int inBatch = 0, emitted = 0;
        var rowLabels = new long[tasks];

        void Emit(ReadOnlySpan<float> image, ReadOnlySpan<long> rowLabel)
        {
            image.CopyTo(images.AsSpan(inBatch * size, size));
            for (int t = 0; t < tasks; t++) labels[t][inBatch] = rowLabel[t];
            inBatch++;
            emitted++;
            if (inBatch == batchSize)
            {
                queue.Add(new HostBatch(images, labels, inBatch), stop);
                images = new float[batchSize * size];
                labels = NewLabels(tasks, batchSize);
                inBatch = 0;
            }
        }

        long row = -1;
        float[] scratch = new float[size];
        while (emitted < take && cursor.MoveNext())
        {
            row++;
            stop.ThrowIfCancellationRequested();
            if (_include is not null && (row >= _include.Length || _include[row] != _includeValue)) continue;
            getFeatures(ref buffer);
            Span<float> target = pooled < bufferRows ? pool.AsSpan(pooled * size, size) : scratch;
            if (!ReadRow(buffer, target, getLabels, rowLabels, row)) continue;
            if (shuffle is null) { Emit(target, rowLabels); continue; }
            if (pooled < bufferRows)
            {
                rowLabels.CopyTo(poolLabels.AsSpan(pooled * tasks, tasks));
                pooled++;
                continue;
            }
            int j = shuffle.Next(bufferRows);
            Emit(pool.AsSpan(j * size, size), poolLabels.AsSpan(j * tasks, tasks));
            scratch.CopyTo(pool.AsSpan(j * size, size));
            rowLabels.CopyTo(poolLabels.AsSpan(j * tasks, tasks));
        }
        // Empty the buffer in random order.
        for (int left = pooled; left > 0 && emitted < take; left--)
        {
            int j = shuffle!.Next(left);
            Emit(pool.AsSpan(j * size, size), poolLabels.AsSpan(j * tasks, tasks));
            // Move the last live row into the hole.
            pool.AsSpan((left - 1) * size, size).CopyTo(pool.AsSpan(j * size, size));
            poolLabels.AsSpan((left - 1) * tasks, tasks).CopyTo(poolLabels.AsSpan(j * tasks, tasks));
        }
        if (inBatch > 0 && !dropLast) queue.Add(new HostBatch(images, labels, inBatch), stop);
    }

    /// <summary>Reads one row into <paramref name="target"/> and <paramref name="rowLabels"/>; false when it holds a
    /// non-finite value and Options.SkipNonFiniteRows is set (the row is skipped).</summary>
    private bool ReadRow(in VBuffer<float> features, Span<float> target, Func<ulong>[] getLabels, long[] rowLabels, long row)
    {
        DataViewConversion.CopyValues(features, target, row, _features.Name);
        int bad = DataViewConversion.FirstNonFinite(target);
        if (bad >= 0)
        {
            if (_skipNonFinite) return false;
            throw DataViewConversion.NonFinite(row, _features.Name, bad, target[bad],
                "Training stops before the optimiser step that would use it. Set Options.SkipNonFiniteRows = true to skip such rows, or repair or filter them first.");
        }
        for (int t = 0; t < getLabels.Length; t++)
        {
            ulong key = getLabels[t]();
            if (key == 0) throw DataViewConversion.MissingLabel(row, _labels[t].Name, Tasks[t].Name);
            if (key > (ulong)Tasks[t].NumClasses)
                throw new InvalidOperationException($"Row {row} (0-based): label column '{_labels[t].Name}' has key {key}, above the task's {Tasks[t].NumClasses} classes.");
            rowLabels[t] = (long)(key - 1);
        }
        return true;
    }

    private static long[][] NewLabels(int tasks, int batchSize)
    {
        var l = new long[tasks][];
        for (int t = 0; t < tasks; t++) l[t] = new long[batchSize];
        return l;
    }

    private static Func<ulong> KeyGetter(DataViewRow row, DataViewSchema.Column col) => DataViewConversion.KeyGetter(row, col);
}
