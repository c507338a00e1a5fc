namespace MLNetSlim.Datasets;

/// <summary>Which part of a data set with a fixed train/test split to load.</summary>
public enum DataSplit
{
    /// <summary>The training part (for MNIST and Fashion-MNIST: the <c>train-*</c> files, 60,000 images).</summary>
    Train = 0,

    /// <summary>The test part (for MNIST and Fashion-MNIST: the <c>t10k-*</c> files, 10,000 images).</summary>
    Test = 1,
}
