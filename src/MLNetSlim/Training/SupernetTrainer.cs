using System.Diagnostics;
using MLNetSlim.Data;
using MLNetSlim.Evaluation;
using MLNetSlim.Network;
using MLNetSlim.Network.Decoders;
using MLNetSlim.Runtime;
using TorchSharp;
using static TorchSharp.torch;
using MLNetSlim.Architecture;

namespace MLNetSlim.Training;

/// <summary>
/// Trains a <see cref="MultiTaskNetwork"/> once for every width configuration (ECMT, ICCV 2023): each step samples
/// configurations by the sandwich rule (<see cref="SandwichSampler"/>); each sampled configuration's loss is the
/// weighted sum of task losses plus lambda x CI-KD, the distance between its encoder features and the matching leading
/// channels of the full configuration's (detached) encoder features, optionally plus in-place distillation of task
/// outputs; gradients of all sampled configurations are accumulated before one optimiser step. Afterwards batch-norm
/// statistics are recomputed per context as post-statistics (<see cref="BatchNormPostStatistics"/>). A fresh run (not one
/// resumed from a checkpoint) first sets each depth head's output bias to the mean training label
/// (<see cref="InitializeDepthBiases"/>). Seeded: the same seed and data give the same weights on CPU.
/// </summary>
internal static class SupernetTrainer
{
    /// <summary>Builds a network with weights initialised from <paramref name="seed"/>.</summary>
    public static MultiTaskNetwork CreateNetwork(NetworkOptions options, int seed)
    {
        manual_seed(seed);
        return new MultiTaskNetwork(options);
    }

    /// <summary>Trains <paramref name="network"/> in place on <paramref name="train"/>.</summary>
    /// <param name="network">The network (moved to the options' device).</param>
    /// <param name="train">Training data; its tasks must match the network's.</param>
    /// <param name="options">Training options.</param>
    /// <param name="progress">Receives a report every N steps and at each epoch end; may be null.</param>
    /// <param name="cancellationToken">Cancels between steps (throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>A summary of the run.</returns>
    /// <exception cref="ArgumentException">Options invalid, data that does not fit the network, or a NaN or infinite
    /// pixel (the message names the image and the value).</exception>
    /// <exception cref="TrainingDivergedException">A loss became NaN or infinite; the network keeps the weights of the
    /// last good step.</exception>
    public static TrainingSummary Train(MultiTaskNetwork network, MultiTaskDataset train, TrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Train(network, new InMemoryBatches(train), options, progress, cancellationToken);

    /// <summary>Trains <paramref name="network"/> in place on batches of <paramref name="train"/> (in memory or
    /// streamed); each epoch is one shuffled pass drawn from a <see cref="Random"/> seeded with
    /// <see cref="TrainingOptions.Seed"/>, without the last partial batch.</summary>
    /// <param name="network">The network (moved to the options' device).</param>
    /// <param name="train">Training batches; their tasks must match the network's.</param>
    /// <param name="options">Training options.</param>
    /// <param name="progress">Receives a report every N steps and at each epoch end; may be null.</param>
    /// <param name="cancellationToken">Cancels between steps.</param>
    /// <param name="validation">When given: after every epoch each task's primary metric at the full configuration is
    /// measured on it and reported (<see cref="TrainingProgress.ValidationMetrics"/>), and drives
    /// <see cref="TrainingOptions.EarlyStoppingPatience"/>. The measurement runs in eval mode without gradients and draws
    /// no random numbers, so the trained weights are the same with or without it.</param>
    public static TrainingSummary Train(MultiTaskNetwork network, IMultiTaskBatches train, TrainingOptions options,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancellationToken = default, IMultiTaskBatches? validation = null)
    {
        TorchRuntime.PrepareForTraining();
        CheckData(network, train);
        options.Validate(network.Tasks.Count);
        if (options.FixedConfiguration is not null) network.Validate(options.FixedConfiguration);
        if (options.EarlyStoppingPatience > 0 && validation is null)
            throw new ArgumentException($"TrainingOptions.EarlyStoppingPatience = {options.EarlyStoppingPatience} needs validation data (the per-epoch metrics it watches); none were given.", nameof(validation));
        Device device = TorchDevice.Resolve(options.Device);
        if (options.Threads > 0) set_num_threads(options.Threads);
        manual_seed(options.Seed);
        network.to(device);
        network.train();

        int tasks = network.Tasks.Count;
        double[] taskWeights = options.TaskLossWeights ?? Enumerable.Repeat(1.0, tasks).ToArray();
        // Fewer rows than BatchSize: one smaller batch of every row. Otherwise the last partial batch of an epoch is
        // dropped (DropLastPartialBatch, the default) or used; a batch of one row is never used (batch norm needs two).
        if (train.Count < 2) throw new ArgumentException($"Training needs at least 2 rows (batch norm averages over a batch), got {train.Count}.", nameof(train));
        int batchSize = Math.Min(options.BatchSize, train.Count);
        int lastBatch = options.DropLastPartialBatch || train.Count % batchSize < 2 ? 0 : train.Count % batchSize;
        int stepsPerEpoch = train.Count / batchSize + (lastBatch > 0 ? 1 : 0);
        int imagesPerEpoch = train.Count / batchSize * batchSize + lastBatch;
        int totalSteps = stepsPerEpoch * options.Epochs;
        string runKey = TrainingCheckpoint.KeyOf(network, train, options);
        TrainingCheckpoint? resume = null;
        if (options.ResumeFromCheckpoint && File.Exists(options.CheckpointPath))
        {
            resume = TrainingCheckpoint.Load(options.CheckpointPath);
            if (resume.RunKey != runKey)
                throw new InvalidOperationException(
                    $"Checkpoint '{options.CheckpointPath}' was written by a run with other settings or data ({resume.RunKey}); this run is ({runKey}). " +
                    "Resume with the same data and options, or delete the checkpoint to start over.");
            resume.RestoreNetwork(network);
        }
        else InitializeDepthBiases(network, train); // a fresh run: depth heads start at the mean label
        using optim.Optimizer optimizer = options.Optimizer == OptimizerKind.Adam
            ? optim.Adam(network.parameters(), options.LearningRate, weight_decay: options.WeightDecay)
            : optim.SGD(network.parameters(), options.LearningRate, options.Momentum, weight_decay: options.WeightDecay, nesterov: options.Momentum > 0);
        optim.lr_scheduler.LRScheduler? scheduler = options.Schedule switch
        {
            LearningRateSchedule.Cosine => optim.lr_scheduler.CosineAnnealingLR(optimizer, totalSteps),
            LearningRateSchedule.Step => optim.lr_scheduler.MultiStepLR(optimizer, new[] { totalSteps / 2, totalSteps * 3 / 4 }, 0.1),
            _ => null,
        };
        int resumeStep = resume?.Step ?? 0;
        var sampler = new SandwichSampler(network, options.SandwichRandomCount, options.Seed, options.SandwichMiddleEncoders, options.SandwichSharedEncoder);
        var shuffle = new Random(options.Seed);

        var early = new EarlyStopping(network.Tasks, options.EarlyStoppingPatience, options.EarlyStoppingMinDelta);
        var window = new LossAccumulator(tasks);
        var epochLosses = new LossAccumulator(tasks);
        var clock = Stopwatch.StartNew();
        var windowClock = Stopwatch.StartNew();
        int step = 0;
        long images = 0, windowImages = 0;
        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            epochLosses.Reset();
            sampler.RandomCount = options.SandwichRandomCountAt(epoch);
            var epochClock = Stopwatch.StartNew();
            int b = 0;
            cancellationToken.ThrowIfCancellationRequested();
            foreach (HostBatch batch in train.Batches(batchSize, shuffle, dropLast: lastBatch == 0))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (b++ == stepsPerEpoch) break;
                IReadOnlyList<WidthConfiguration> configurations = options.FixedConfiguration is { } fixedConfiguration ? [fixedConfiguration] : sampler.Next();
                if (step < resumeStep)
                {
                    // Resuming: this step is in the checkpoint. Replay only its random draws and schedule step.
                    scheduler?.step();
                    step++;
                    continue;
                }
                if (resume is not null)
                {
                    // Replayed up to the checkpoint: take its weights, optimiser state (with the learning rate the
                    // schedule has reached) and Torch generator.
                    resume.RestoreOptimizer(optimizer);
                    resume = null;
                }
                (double[] taskLoss, double kd) = Step(network, train, batch, configurations, taskWeights, options, optimizer, device, epoch, step + 1);
                scheduler?.step();
                step++;
                if (options.CheckpointEverySteps > 0 && step % options.CheckpointEverySteps == 0)
                    TrainingCheckpoint.Save(options.CheckpointPath!, runKey, step, network, optimizer);
                window.Add(taskLoss, kd);
                epochLosses.Add(taskLoss, kd);
                windowImages += batch.Count;
                images += batch.Count;
                if (step % options.ProgressEverySteps == 0)
                {
                    progress?.Report(window.Report(network, epoch, options.Epochs, step, totalSteps, false,
                        windowImages / windowClock.Elapsed.TotalSeconds, LearningRate(optimizer), clock.Elapsed));
                    window.Reset();
                    windowImages = 0;
                    windowClock.Restart();
                }
            }
            if (epochLosses.Steps == 0) continue; // (an epoch resumed past its end has none)
            double epochRate = imagesPerEpoch / epochClock.Elapsed.TotalSeconds;
            Dictionary<string, double>? metrics = null;
            bool stop = false;
            if (validation is not null)
            {
                cancellationToken.ThrowIfCancellationRequested();
                double[] primary = NetworkEvaluator.Accuracy(network, validation, options.FixedConfiguration ?? network.FullConfiguration, 256, options.Device);
                metrics = network.Tasks.Select((t, i) => (t.Name, primary[i])).ToDictionary(p => p.Name, p => p.Item2);
                stop = early.Observe(primary) && epoch < options.Epochs;
            }
            progress?.Report(epochLosses.Report(network, epoch, options.Epochs, step, totalSteps, true,
                epochRate, LearningRate(optimizer), clock.Elapsed) with { ValidationMetrics = metrics, StoppedEarly = stop });
            if (stop) break;
        }
        TimeSpan trainingTime = clock.Elapsed;
        if (options.PostStatisticsImages > 0)
            BatchNormPostStatistics.Compute(network, train, options.PostStatisticsImages, Math.Max(options.BatchSize, 256), device,
                options.FixedConfiguration is { } only ? [only] : null); // a static network uses the contexts of its one configuration only
        network.eval();
        return new TrainingSummary(step, options.Epochs, trainingTime, clock.Elapsed - trainingTime,
            images / trainingTime.TotalSeconds);
    }

    /// <summary>Training images whose labels set the depth heads' initial output bias (the first ones, in source order).</summary>
    internal const int DepthBiasImages = 1024;

    /// <summary>
    /// Sets the predictor bias of every depth task's <see cref="FpnLiteHead"/> to the mean valid label (finite, positive,
    /// not the ignore value, as the depth loss counts them) of the first <see cref="DepthBiasImages"/> training images;
    /// a task without valid labels there keeps its bias. Why: the output is bias + sum over the active channels, and
    /// Adam moves a parameter by about the learning rate per step, so a zero bias leaves the absolute depth (e.g. 10
    /// units) to be built from the channels: the full width gets there, a narrow decoder, with a quarter of the
    /// channels, predicted about a quarter of it (issue 11). Starting at the mean leaves the channels only the
    /// deviations. Same idea as RetinaNet's prior initialisation of its output bias (Lin et al., ICCV 2017, Sec. 4.1).
    /// </summary>
    internal static void InitializeDepthBiases(MultiTaskNetwork network, IMultiTaskBatches train)
    {
        int[] depthTasks = Enumerable.Range(0, network.Tasks.Count)
            .Where(t => network.Tasks[t].Kind == TaskKind.Depth && network.Decoders[t].Head is FpnLiteHead).ToArray();
        if (depthTasks.Length == 0) return;
        var sums = new double[network.Tasks.Count];
        var counts = new long[network.Tasks.Count];
        int pixels = train.Height * train.Width;
        foreach (HostBatch batch in train.Batches(Math.Min(256, DepthBiasImages), null, dropLast: false, take: DepthBiasImages))
            foreach (int t in depthTasks)
            {
                float[] maps = batch.PixelLabels[t] ?? throw new InvalidOperationException($"Task '{network.Tasks[t].Name}' (Depth) has no label maps in this batch.");
                double? ignore = network.Tasks[t].IgnoreValue;
                long n = (long)batch.Count * MultiTaskDataset.PixelLabelChannels(network.Tasks[t]) * pixels;
                for (long i = 0; i < n; i++)
                {
                    float v = maps[i];
                    if (!float.IsFinite(v) || v <= 0 || (ignore is double iv && v == iv)) continue;
                    sums[t] += v;
                    counts[t]++;
                }
            }
        foreach (int t in depthTasks)
            if (counts[t] > 0) ((FpnLiteHead)network.Decoders[t].Head).SetPredictorBias(sums[t] / counts[t]);
    }

    internal static (double[] TaskLoss, double Distillation) Step(MultiTaskNetwork network, IMultiTaskBatches data, HostBatch batch,
        IReadOnlyList<WidthConfiguration> configurations, double[] taskWeights, TrainingOptions options, optim.Optimizer optimizer, Device device,
        int epoch, int stepNumber)
    {
        using var scope = NewDisposeScope();
        // Batch-norm running statistics change during the forward passes; keep a copy to restore if a loss turns out
        // non-finite, so the network keeps the last good step's state (parameters change only at optimizer.step()).
        Tensor[] buffers = network.buffers().ToArray();
        Tensor[] saved;
        using (no_grad()) saved = buffers.Select(b => b.clone()).ToArray();
        void Diverged(string which, double value, WidthConfiguration c)
        {
            using (no_grad())
                for (int k = 0; k < buffers.Length; k++) buffers[k].copy_(saved[k]);
            optimizer.zero_grad();
            throw new TrainingDivergedException(epoch, stepNumber, which, value, c.ToString());
        }
        int tasks = network.Tasks.Count;
        Tensor x = batch.ImageTensor(data.Channels, data.Height, data.Width, device);
        var y = new Tensor[tasks];
        for (int t = 0; t < tasks; t++) y[t] = batch.LabelTensor(data.Tasks[t], t, data.Height, data.Width, device);
        optimizer.zero_grad();

        var fullTaskLoss = new double[tasks];
        double kdSum = 0;
        Tensor[]? teacherFeatures = null;
        Tensor[]? teacherProbabilities = null;
        // With a shared encoder the random configurations (index 2 on) run on one encoder pass: the first computes the
        // encoder features, the others reuse them, and their losses are summed into one backward pass.
        bool share = options.SandwichSharedEncoder && configurations.Count > 3;
        Tensor[]? sharedFeatures = null;
        Tensor? pending = null;
        for (int i = 0; i < configurations.Count; i++)
        {
            using var configScope = NewDisposeScope();
            bool isFull = i == 0;
            bool reuse = share && i > 2, defer = share && i >= 2 && i < configurations.Count - 1;
            MultiTaskOutput output = reuse
                ? network.ForwardDecoders(sharedFeatures!, network.CostTable.Resolve(configurations[i]), x)
                : network.forward(x, configurations[i]);
            if (share && i == 2) sharedFeatures = output.EncoderFeatures.Select(f => f.MoveToOuterDisposeScope()).ToArray();
            Tensor loss = zeros(1, device: device);
            for (int t = 0; t < tasks; t++)
            {
                Tensor taskLoss = TaskLosses.Loss(network.Tasks[t], output.TaskOutputs[t], y[t]);
                float value = taskLoss.item<float>();
                if (!float.IsFinite(value)) Diverged($"loss of task '{network.Tasks[t].Name}'", value, configurations[i]);
                if (isFull) fullTaskLoss[t] = value;
                loss = loss + taskWeights[t] * taskLoss;
            }
            if (isFull)
            {
                teacherFeatures = DistillationFeatures(output, options).Select(f => f.detach().MoveToOuterDisposeScope()).ToArray();
                if (options.InplaceDistillationWeight > 0)
                    teacherProbabilities = output.TaskOutputs
                        .Select(o => nn.functional.softmax(o.detach(), 1).MoveToOuterDisposeScope()).ToArray();
            }
            else
            {
                if (options.DistillationWeight > 0 && !reuse) // CI-KD compares encoder features: once per encoder pass
                {
                    Tensor[] student = DistillationFeatures(output, options);
                    Tensor kd = zeros(1, device: device);
                    for (int f = 0; f < student.Length; f++) kd = kd + ConfigurationInvariantDistillation(student[f], teacherFeatures![f]);
                    float kdValue = kd.item<float>();
                    if (!float.IsFinite(kdValue)) Diverged("CI-KD loss", kdValue, configurations[i]);
                    kdSum += kdValue;
                    loss = loss + options.DistillationWeight * kd;
                }
                if (teacherProbabilities is not null)
                    for (int t = 0; t < tasks; t++)
                        if (network.Tasks[t].Kind is TaskKind.Segmentation) // per-pixel soft targets
                            loss = loss + options.InplaceDistillationWeight * SoftCrossEntropy(output.TaskOutputs[t], teacherProbabilities[t]);
                        else if (network.Tasks[t].Kind is TaskKind.Classification) // only rows that label the task
                            loss = loss + options.InplaceDistillationWeight * SoftCrossEntropy(output.TaskOutputs[t], teacherProbabilities[t], y[t].ge(0));
            }
            float total = loss.item<float>();
            if (!float.IsFinite(total)) Diverged("total loss", total, configurations[i]);
            if (defer)
            {
                pending = (pending is null ? loss : pending + loss).MoveToOuterDisposeScope();
                continue;
            }
            (pending is null ? loss : loss + pending).backward();
        }
        optimizer.step();
        int students = share ? 2 : configurations.Count - 1; // CI-KD terms: one per student encoder pass
        return (fullTaskLoss, students > 0 ? kdSum / students : 0);
    }

    private static Tensor[] DistillationFeatures(MultiTaskOutput output, TrainingOptions options) =>
        options.DistillationFeatures == Training.DistillationFeatures.AllEncoderStages
            ? output.EncoderFeatures.ToArray()
            : new[] { output.EncoderFeatures[^1] };

    /// <summary>
    /// CI-KD distance: with s the student's (N, C', h, w) features and t the teacher's leading C' channels (detached),
    /// both divided by the teacher's per-image root-mean-square r_t (detached, at least 1e-3), the batch mean of
    /// mean((s - t)^2 / r_t^2). Normalising by the teacher's scale makes the loss scale-free without the unbounded
    /// gradients that L2-normalising an all-zero student map would give. Returns a scalar tensor.
    /// </summary>
    internal static Tensor ConfigurationInvariantDistillation(Tensor student, Tensor teacher)
    {
        using var scope = NewDisposeScope();
        Tensor t = teacher.narrow(1, 0, student.shape[1]).flatten(1);
        Tensor s = student.flatten(1);
        Tensor meanSquare = t.pow(2).mean(new long[] { 1 }, keepdim: true).clamp_min(1e-6);
        Tensor perImage = (s - t).pow(2).mean(new long[] { 1 }, keepdim: true) / meanSquare;
        return perImage.mean().MoveToOuterDisposeScope();
    }

    /// <summary>Soft cross-entropy averaged over the rows where <paramref name="labelled"/> (N) is true; zero (still
    /// depending on the logits) when no row is labelled: a task's missing labels give it no distillation either.</summary>
    private static Tensor SoftCrossEntropy(Tensor logits, Tensor targetProbabilities, Tensor labelled)
    {
        using var scope = NewDisposeScope();
        Tensor count = labelled.sum();
        if (count.item<long>() == 0) return (logits.sum() * 0).MoveToOuterDisposeScope();
        Tensor perImage = -(targetProbabilities * nn.functional.log_softmax(logits, 1)).sum(1);
        return ((perImage * labelled.to_type(ScalarType.Float32)).sum() / count).MoveToOuterDisposeScope();
    }

    private static Tensor SoftCrossEntropy(Tensor logits, Tensor targetProbabilities)
    {
        using Tensor logp = nn.functional.log_softmax(logits, 1);
        using Tensor prod = targetProbabilities * logp;
        using Tensor perImage = prod.sum(1);
        return -perImage.mean();
    }

    private static double LearningRate(optim.Optimizer optimizer) => optimizer.ParamGroups.First().LearningRate;

    private static void CheckData(MultiTaskNetwork network, IMultiTaskBatches data)
    {
        NetworkOptions o = network.Options;
        if (data.Channels != o.Channels || data.Height != o.Height || data.Width != o.Width)
            throw new ArgumentException($"Training images are ({data.Channels}, {data.Height}, {data.Width}); the network expects ({o.Channels}, {o.Height}, {o.Width}).");
        if (data.Tasks.Count != network.Tasks.Count)
            throw new ArgumentException($"Training data has {data.Tasks.Count} tasks; the network has {network.Tasks.Count}.");
        for (int t = 0; t < data.Tasks.Count; t++)
            if (data.Tasks[t].Name != network.Tasks[t].Name || data.Tasks[t].NumClasses != network.Tasks[t].NumClasses || data.Tasks[t].Kind != network.Tasks[t].Kind)
                throw new ArgumentException($"Task {t} of the data is '{data.Tasks[t].Name}' ({data.Tasks[t].NumClasses} classes); the network's is '{network.Tasks[t].Name}' ({network.Tasks[t].NumClasses} classes).");
        if (data.Count < 2) throw new ArgumentException("Training needs at least 2 images.");
        if (data is not InMemoryBatches { Data: var memory }) return; // streamed rows are checked as they are read
        float[] images = memory.Images;
        for (int i = 0; i < images.Length; i++)
            if (!float.IsFinite(images[i]))
                throw new ArgumentException(
                    $"Training image {i / memory.ImageSize} (0-based) has the non-finite value {images[i].ToString(System.Globalization.CultureInfo.InvariantCulture)} " +
                    $"at position {i % memory.ImageSize}; remove or repair such images.", "train");
    }

    /// <summary>The early-stopping rule of <see cref="TrainingOptions.EarlyStoppingPatience"/>.</summary>
    internal sealed class EarlyStopping(IReadOnlyList<TaskDefinition> tasks, int patience, double minDelta)
    {
        private readonly double[] _best = tasks.Select(t => t.HigherIsBetter ? double.NegativeInfinity : double.PositiveInfinity).ToArray();
        private int _stale;

        /// <summary>Records one epoch's metrics; true when training should stop (patience &gt; 0 and that many
        /// epochs in a row without improvement).</summary>
        public bool Observe(IReadOnlyList<double> metrics)
        {
            bool improved = false;
            for (int t = 0; t < _best.Length; t++)
            {
                double m = metrics[t];
                bool better = double.IsInfinity(_best[t]) || (tasks[t].HigherIsBetter ? m > _best[t] + minDelta : m < _best[t] - minDelta);
                if (!better) continue;
                improved = true;
                _best[t] = m; // (as Keras' EarlyStopping: the best moves only on an improvement larger than minDelta)
            }
            _stale = improved ? 0 : _stale + 1;
            return patience > 0 && _stale >= patience;
        }
    }

    private sealed class LossAccumulator(int tasks)
    {
        private readonly double[] _task = new double[tasks];
        private double _kd;

        public int Steps { get; private set; }

        public void Add(double[] taskLoss, double kd)
        {
            for (int t = 0; t < _task.Length; t++) _task[t] += taskLoss[t];
            _kd += kd;
            Steps++;
        }

        public void Reset()
        {
            Array.Clear(_task);
            _kd = 0;
            Steps = 0;
        }

        public TrainingProgress Report(MultiTaskNetwork network, int epoch, int epochs, int step, int totalSteps, bool epochEnd,
            double imagesPerSecond, double lr, TimeSpan elapsed) => new()
            {
                Epoch = epoch,
                Epochs = epochs,
                Step = step,
                TotalSteps = totalSteps,
                IsEpochEnd = epochEnd,
                TaskLosses = network.Tasks.Select((t, i) => (t.Name, _task[i] / Math.Max(1, Steps))).ToDictionary(p => p.Name, p => p.Item2),
                DistillationLoss = _kd / Math.Max(1, Steps),
                ImagesPerSecond = imagesPerSecond,
                LearningRate = lr,
                Elapsed = elapsed,
            };
    }
}

/// <summary>What a training run did.</summary>
/// <param name="Steps">Optimiser steps.</param>
/// <param name="Epochs">Epochs.</param>
/// <param name="TrainingTime">Wall time of the training loop.</param>
/// <param name="PostStatisticsTime">Wall time of batch-norm post-statistics.</param>
/// <param name="ImagesPerSecond">Training throughput (each image counted once per step).</param>
internal sealed record TrainingSummary(int Steps, int Epochs, TimeSpan TrainingTime, TimeSpan PostStatisticsTime, double ImagesPerSecond);
