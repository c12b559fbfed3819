/** The bare workflow's activities do nothing: their cost is Temporal's alone. */
export const bareActivities = {
  async noop(): Promise<void> {},
};

export type BareActivities = typeof bareActivities;
