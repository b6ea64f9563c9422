/**
 * The batch script of a Slurm job: a template with `{name}` variables. The
 * built-in one runs the job's processes (engines, or the controller) with
 * srun; a profile may name its own with `slurmTemplate` (a file). Only the
 * variables below are replaced; `${VAR}` (the shell's) is left alone, and an
 * unknown `{name}` is an error, so a typo does not reach Slurm.
 *
 * Variables:
 * - `{jobName}`  the job's name (tscluster cancels only jobs of its ids and names)
 * - `{part}`     `engines` or `controller`
 * - `{n}`        processes in the job (engines; 1 for the controller)
 * - `{cpus}`     CPUs of each process (--cpus-per-engine, default 1)
 * - `{output}`   the job's output file (stdout and stderr; `%j` is the job id)
 * - `{options}`  `#SBATCH` lines of --partition, --time-limit, --account, --memory and each --sbatch
 * - `{root}`     the profiles' root (TSCLUSTER_DIR), shell-quoted
 * - `{profile}`, `{clusterId}`  which cluster
 * - `{cmd}`      the command of one process, shell-quoted (srun runs it n times)
 */

export const SLURM_TEMPLATE_VARIABLES = ['jobName', 'part', 'n', 'cpus', 'output', 'options', 'root', 'profile', 'clusterId', 'cmd'] as const;
export type SlurmTemplateValues = Record<(typeof SLURM_TEMPLATE_VARIABLES)[number], string>;

export const BUILTIN_SLURM_TEMPLATE = `#!/bin/sh
#SBATCH --job-name={jobName}
#SBATCH --ntasks={n}
#SBATCH --cpus-per-task={cpus}
#SBATCH --output={output}
{options}
# tscluster: the {part} of profile '{profile}', cluster id '{clusterId}'
export TSCLUSTER_DIR={root}
srun --ntasks={n} --cpus-per-task={cpus} {cmd}
`;

/** `{name}` not preceded by `$` */
const VARIABLE = /(?<!\$)\{([A-Za-z_]\w*)\}/g;

/** The script of a template with its variables replaced; throws naming an unknown variable. */
export function renderSlurmTemplate(template: string, values: SlurmTemplateValues, source: string): string {
  const known: readonly string[] = SLURM_TEMPLATE_VARIABLES;
  return template.replace(VARIABLE, (_, name: string) => {
    if (!known.includes(name)) {
      throw new RangeError(
        `the Slurm template ${source} uses {${name}}, which is not a template variable (they are ${known.map((k) => `{${k}}`).join(', ')}; the shell's \${VAR} is left alone)`,
      );
    }
    return values[name as keyof SlurmTemplateValues];
  });
}

/** `2G`, `500M`, `1.5T`, `4096` (MB): megabytes, or undefined when it is not a size. */
export function megabytes(size: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)B?$/i.exec(size.trim());
  if (!m) return undefined;
  const scale: Record<string, number> = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024, '': 1 };
  return Number(m[1]) * (scale[(m[2] ?? '').toUpperCase()] ?? 1);
}

export interface SlurmOptions {
  partition?: string | undefined;
  timeLimit?: string | undefined;
  account?: string | undefined;
  /** memory of each process, e.g. 2G (sbatch has no per-task memory: it becomes --mem-per-cpu) */
  memory?: string | undefined;
  cpus: number;
  /** extra lines: `--qos=long` or a whole `#SBATCH --qos=long` */
  sbatch?: readonly string[] | undefined;
}

/** The `#SBATCH` lines of the options. */
export function sbatchLines(o: SlurmOptions): string {
  const lines: string[] = [];
  if (o.partition !== undefined) lines.push(`--partition=${o.partition}`);
  if (o.timeLimit !== undefined) lines.push(`--time=${o.timeLimit}`);
  if (o.account !== undefined) lines.push(`--account=${o.account}`);
  if (o.memory !== undefined) {
    const mb = megabytes(o.memory);
    if (mb === undefined) throw new RangeError(`--memory must be a size like 2G or 500M, got '${o.memory}'`);
    lines.push(`--mem-per-cpu=${o.cpus === 1 ? o.memory : `${Math.ceil(mb / o.cpus)}M`}`);
  }
  for (const l of o.sbatch ?? []) lines.push(l.trim());
  return lines.map((l) => (l.startsWith('#SBATCH') ? l : `#SBATCH ${l}`)).join('\n');
}
