namespace MLNetSlim.Control;

/// <summary>
/// Seeded Dirichlet sampling for preference vectors (DYMU, Raychaudhuri et al. CVPR 2022, evaluate controllability
/// with preferences drawn from Dir(alpha)). A Dirichlet(alpha, ..., alpha) sample is (G_1..G_K) / sum G with
/// G_i ~ Gamma(alpha, 1) independent; Gamma is drawn with Marsaglia and Tsang's method ("A simple method for
/// generating gamma variables", ACM TOMS 2000), using the boost Gamma(a) = Gamma(a + 1) * U^(1/a) for a &lt; 1, and
/// normals from the Box-Muller transform. All randomness comes from the given <see cref="Random"/>, so a seeded
/// Random gives a reproducible sequence.
/// </summary>
internal static class Dirichlet
{
    /// <summary>One sample of a symmetric Dirichlet(alpha) distribution over <paramref name="dimension"/> components.</summary>
    /// <param name="random">The random source (seed it for reproducibility).</param>
    /// <param name="dimension">Number of components, at least 1.</param>
    /// <param name="alpha">Concentration, positive; 0.2 gives mostly one or two dominant components.</param>
    /// <returns>Non-negative components summing to 1 (up to rounding).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Dimension below 1 or alpha not positive and finite.</exception>
    public static double[] Sample(Random random, int dimension, double alpha)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfLessThan(dimension, 1);
        if (!(alpha > 0) || double.IsInfinity(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "Alpha must be positive and finite.");
        var x = new double[dimension];
        while (true)
        {
            double sum = 0;
            for (int i = 0; i < dimension; i++) { x[i] = Gamma(random, alpha); sum += x[i]; }
            if (sum > 0 && double.IsFinite(sum))
            {
                for (int i = 0; i < dimension; i++) x[i] /= sum;
                return x;
            }
            // All components underflowed (possible only for tiny alpha): draw again.
        }
    }

    /// <summary>One Gamma(shape, 1) variate (Marsaglia-Tsang; boost for shape &lt; 1).</summary>
    /// <exception cref="ArgumentNullException"><paramref name="random"/> is null.</exception>
    /// <exception cref="ArgumentOutOfRangeException">Shape not positive and finite.</exception>
    public static double Gamma(Random random, double shape)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (!(shape > 0) || double.IsInfinity(shape)) throw new ArgumentOutOfRangeException(nameof(shape), shape, "Shape must be positive and finite.");
        if (shape < 1)
        {
            double u = 1.0 - random.NextDouble(); // (0, 1]
            return Gamma(random, shape + 1) * Math.Pow(u, 1.0 / shape);
        }
        double d = shape - 1.0 / 3.0, c = 1.0 / Math.Sqrt(9.0 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = Normal(random);
                v = 1.0 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = 1.0 - random.NextDouble();
            if (u < 1.0 - 0.0331 * z * z * z * z) return d * v;
            if (Math.Log(u) < 0.5 * z * z + d * (1.0 - v + Math.Log(v))) return d * v;
        }
    }

    private static double Normal(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
