using System.Globalization;
using Microsoft.ML;
using MLNetSlim.Control;
using MLNetSlim.MLNet;

/// <summary>
/// What the "dense" and "pipeline" modes share: they load the model zip <c>args[0]</c> with MLNetSlim registered and set
/// the optional <c>--budget TEXT</c> and <c>--weights a=0.8,b=0.2</c> on its controllable multi-task transformer.
/// </summary>
internal static class ControlledModel
{
    public static (MLContext Ml, ITransformer Model, ControllableMultiTaskTransformer Cmt) Load(string[] args)
    {
        var ml = new MLContext(seed: 1).AddMLNetSlim();
        ITransformer model = ml.Model.LoadChecked(args[0], out DataViewSchema _);
        ControllableMultiTaskTransformer cmt = model.GetControllableMultiTaskTransformer();
        int bi = Array.IndexOf(args, "--budget");
        if (bi >= 0) cmt.Budget = Budget.Parse(args[bi + 1]);
        int wi = Array.IndexOf(args, "--weights");
        if (wi >= 0)
            cmt.TaskWeights = args[wi + 1].Split(',').Select(p => p.Split('='))
                .ToDictionary(p => p[0], p => double.Parse(p[1], CultureInfo.InvariantCulture));
        return (ml, model, cmt);
    }
}
