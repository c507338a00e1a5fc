using Microsoft.ML.Data;

namespace MLNetSlim.Samples.Consume;

/// <summary>
/// The model's outputs for one image. The model writes, per task T, <c>PredictedLabel.T</c> (the class name) and
/// <c>Score.T</c> (one probability per class). These properties match the sample data's tasks, <c>digit</c> and
/// <c>fashion</c> (the columns of its labels.tsv); for your own labels.tsv, declare one pair per task column.
/// </summary>
public sealed class ModelOutput
{
    /// <summary>Predicted class of the digit task.</summary>
    [ColumnName("PredictedLabel.digit")]
    public string Digit { get; set; } = "";

    /// <summary>Probability of each digit class, in the order of <c>MLModel.ClassNames("digit")</c>.</summary>
    [ColumnName("Score.digit")]
    public float[] DigitScores { get; set; } = [];

    /// <summary>Predicted class of the fashion task.</summary>
    [ColumnName("PredictedLabel.fashion")]
    public string Fashion { get; set; } = "";

    /// <summary>Probability of each fashion class, in the order of <c>MLModel.ClassNames("fashion")</c>.</summary>
    [ColumnName("Score.fashion")]
    public float[] FashionScores { get; set; } = [];

    /// <summary>The task names these properties cover.</summary>
    public static readonly string[] TaskNames = ["digit", "fashion"];

    /// <summary>(task, predicted label, scores) for every task.</summary>
    public IEnumerable<(string Task, string Label, float[] Scores)> ByTask() =>
        [("digit", Digit, DigitScores), ("fashion", Fashion, FashionScores)];
}
