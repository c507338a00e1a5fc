using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MLNetSlim.Data;

using MLNetSlim.Training;
using MLNetSlim.Architecture;
using MLNetSlim.Model;

namespace MLNetSlim.MLNet;

/// <summary>
/// Trains a controllable slimmable multi-task network (ECMT, ICCV 2023) on an image column and one key-typed label
/// column per task, or wraps an existing model (<c>mlContext.Transforms.ApplyControllableMultiTaskModel</c>).
/// <c>Fit</c> returns a <see cref="ControllableMultiTaskTransformer"/>.
/// </summary>
/// <remarks>
/// Labels must be key types; numeric or text labels are rejected with a message that names the
/// <c>MapValueToKey</c> call to add (keys carry the class count and names, which the output columns reuse).
/// Progress goes to the MLContext's <c>Log</c> event (channel "ControllableMultiTask", kind Info) and to
/// <see cref="Options.Progress"/>.
/// </remarks>
public sealed partial class ControllableMultiTaskEstimator : IEstimator<ControllableMultiTaskTransformer>
{
    private readonly IHostEnvironment? _env;
    private readonly Options? _options;
    private readonly MultiTaskModelTrainer? _trainer;
    private readonly IMultiTaskModel? _model;
    private readonly string _featureColumnName;

    /// <summary>Creates a training estimator. Prefer <c>mlContext.MulticlassClassification.Trainers.ControllableMultiTask(options)</c>.</summary>
    /// <param name="mlContext">Receives log messages; MLNetSlim's model loader is registered on it.</param>
    /// <param name="options">Training options (copied).</param>
    /// <param name="trainer">The trainer; the built-in trainer (sandwich rule + CI-KD, then calibration) when null.</param>
    /// <exception cref="ArgumentException">Invalid options (the message names the option).</exception>
    public ControllableMultiTaskEstimator(MLContext mlContext, Options options, MultiTaskModelTrainer? trainer = null)
        : this((IHostEnvironment)mlContext, options, trainer)
    {
    }

    internal ControllableMultiTaskEstimator(IHostEnvironment env, Options options, MultiTaskModelTrainer? trainer)
    {
        ArgumentNullException.ThrowIfNull(env);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _env = env;
        _options = options.Clone();
        _options.ValidationData = options.ValidationData;
        _options.Progress = options.Progress;
        _options.CancellationToken = options.CancellationToken;
        _trainer = trainer;
        _featureColumnName = options.FeatureColumnName;
        MLNetSlimCatalog.Register(env);
    }

    internal ControllableMultiTaskEstimator(IHostEnvironment? env, IMultiTaskModel model, string featureColumnName)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentException.ThrowIfNullOrWhiteSpace(featureColumnName);
        _env = env;
        _model = model;
        _featureColumnName = featureColumnName;
        if (env is not null) MLNetSlimCatalog.Register(env);
    }

    /// <summary>
    /// Trains (or, for a wrapped model, only checks the schema) and returns the transformer.
    /// </summary>
    /// <param name="input">Rows with the features column (Vector&lt;Single, C*H*W&gt;) and, when training, every task's
    /// label column: key-typed for classification, a label-map Vector&lt;Single, L*H*W&gt; for a per-pixel task.</param>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or of the wrong type or size; the message
    /// names the column, the expected and the actual type.</exception>
    /// <exception cref="InvalidOperationException">A row has a missing key label or a NaN or infinite feature (the message
    /// gives the row, 0-based, the column and the value; see <see cref="Options.SkipNonFiniteRows"/>), there are no rows,
    /// or no trainer is wired in.</exception>
    /// <exception cref="TrainingDivergedException">A training loss became NaN or infinite.</exception>
    /// <exception cref="OperationCanceledException"><see cref="Options.CancellationToken"/> was cancelled.</exception>
    public ControllableMultiTaskTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (_model is not null)
        {
            var wrapped = new ControllableMultiTaskTransformer(_model, _featureColumnName);
            wrapped.GetOutputSchema(input.Schema);
            return wrapped;
        }
        Options o = _options!;
        SchemaChecks.FeatureColumn(input.Schema, o.FeatureColumnName, o.ImageChannels, o.ImageHeight, o.ImageWidth, nameof(input));
        // Before the label checks: on empty data MapValueToKey builds a one-value key, which would read as "1 class".
        if (!DataViewConversion.HasRows(input)) throw new InvalidOperationException("The training data has no rows.");
        TaskDefinition[] tasks = DataViewConversion.ResolveTasks(input.Schema, o);
        MultiTaskModelTrainer trainer = _trainer ?? BuiltInTrainer.Train;

        using IChannel ch = _env!.Start("ControllableMultiTask");
        var progress = new Relay(ch, o.Progress);
        progress.Info($"Reading training data: column '{o.FeatureColumnName}' as ({o.ImageChannels}, {o.ImageHeight}, {o.ImageWidth}) images, tasks [{string.Join(", ", tasks.Select(t => t.IsPerPixel ? $"{t.Name}: {t.Kind}" + (t.Kind == TaskKind.Segmentation ? $", {t.NumClasses} classes" : "") : $"{t.Name}: {t.NumClasses} classes"))}].");
        MultiTaskDataset train = DataViewConversion.Read(input, o, tasks, o.CancellationToken, out long skipped);
        if (skipped > 0) progress.Info($"Skipped {skipped} training rows with a NaN or infinite feature (Options.SkipNonFiniteRows).");
        MultiTaskDataset? validation = null;
        if (o.ValidationData is not null)
        {
            SchemaChecks.FeatureColumn(o.ValidationData.Schema, o.FeatureColumnName, o.ImageChannels, o.ImageHeight, o.ImageWidth, "Options.ValidationData");
            TaskDefinition[] vt = DataViewConversion.ResolveTasks(o.ValidationData.Schema, o);
            for (int t = 0; t < tasks.Length; t++)
                if (vt[t].NumClasses != tasks[t].NumClasses)
                    throw new ArgumentOutOfRangeException("Options.ValidationData",
                        $"Task '{tasks[t].Name}' has {tasks[t].NumClasses} classes in the training data but {vt[t].NumClasses} in the validation data; build the keys once (fit MapValueToKey on the training data) and apply them to both.");
            validation = DataViewConversion.Read(o.ValidationData, o, tasks, o.CancellationToken, out long skippedValidation);
            if (skippedValidation > 0) progress.Info($"Skipped {skippedValidation} validation rows with a NaN or infinite feature (Options.SkipNonFiniteRows).");
        }
        else if (o.ValidationFraction > 0 && train.Count >= 2)
        {
            (train, validation) = train.Split(o.ValidationFraction, o.Seed ?? 0);
        }
        progress.Info(validation is not null
            ? $"Training on {train.Count} images, {validation.Count} held out for calibration; {o.Epochs} epochs on {o.Device}."
            : $"Training on {train.Count} images, none held out (Options.ValidationFraction = 0): the built-in trainer measures the calibration table on the training images; {o.Epochs} epochs on {o.Device}.");

        Options copy = o.Clone();
        for (int t = 0; t < tasks.Length; t++)
        {
            copy.Tasks[t].NumClasses = tasks[t].NumClasses;
            copy.Tasks[t].ClassNames = tasks[t].ClassNames.ToArray();
        }
        copy.Progress = o.Progress;
        copy.CancellationToken = o.CancellationToken;
        IMultiTaskModel model = trainer(train, validation, copy, progress, o.CancellationToken)
            ?? throw new InvalidOperationException("The multi-task trainer returned no model.");
        progress.Info($"Trained: full network {model.Costs.FullMacs} MACs per image.");
        return new ControllableMultiTaskTransformer(model, o.FeatureColumnName, null, null, copy);
    }

    /// <summary>The schema shape after <c>Fit(...).Transform</c>: the input columns plus, per task, <c>Score.T</c>
    /// (known-size vector of Single: K probabilities with SlotNames for classification, a (C, H, W) map for a
    /// per-pixel task) and <c>PredictedLabel.T</c> (classification: UInt32 key with KeyValues; segmentation:
    /// Vector&lt;UInt32, H*W&gt; of 0-based class indices; none for the other per-pixel kinds).</summary>
    /// <param name="inputSchema">Input shape.</param>
    /// <exception cref="ArgumentOutOfRangeException">The features column is missing or not a known-size vector of
    /// Single, or (training) a label column is missing or not a key.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema)
    {
        ArgumentNullException.ThrowIfNull(inputSchema);
        IReadOnlyList<TaskDefinition> tasks;
        if (_model is not null)
        {
            SchemaChecks.FeatureShape(inputSchema, _featureColumnName, _model.Channels * _model.Height * _model.Width, nameof(inputSchema));
            tasks = _model.Tasks;
        }
        else
        {
            Options o = _options!;
            SchemaChecks.FeatureShape(inputSchema, o.FeatureColumnName, o.ImageSize, nameof(inputSchema));
            foreach (TaskColumn t in o.Tasks)
                if (t.Kind == TaskKind.Classification) SchemaChecks.LabelShape(inputSchema, t.Name, t.EffectiveLabelColumnName, nameof(inputSchema));
                else SchemaChecks.LabelMapShape(inputSchema, t.Name, t.EffectiveLabelColumnName, nameof(inputSchema));
            // The shape carries no sizes: two classes stand in for an unknown count.
            tasks = o.Tasks.Select(t => TaskDefinition.ChannelsOf(t.Kind) is int c
                ? new TaskDefinition(t.Name, t.Kind, c)
                : new TaskDefinition(t.Name, t.Kind, t.NumClasses ?? 2, t.ClassNames)).ToArray();
        }
        var b = new DataViewSchema.Builder();
        ControllableMultiTaskTransformer.AddOutputColumns(b, tasks, _model?.Height ?? _options!.ImageHeight, _model?.Width ?? _options!.ImageWidth);
        var added = MLNetInternals.ToShape(b.ToSchema());
        var names = added.Select(c => c.Name).ToHashSet();
        return new SchemaShape(inputSchema.Where(c => !names.Contains(c.Name)).Concat(added));
    }

    /// <summary>Forwards progress to the MLContext log channel and to the user's progress sink.</summary>
    private sealed class Relay : IProgress<TrainingProgress>
    {
        private readonly IChannel _channel;
        private readonly IProgress<TrainingProgress>? _user;

        public Relay(IChannel channel, IProgress<TrainingProgress>? user)
        {
            _channel = channel;
            _user = user;
        }

        public void Report(TrainingProgress value)
        {
            Info(value.ToString());
            _user?.Report(value);
        }

        public void Info(string message) =>
            _channel.Info(MessageSensitivity.None, message.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal));
    }
}
