// An action a person asked for that Slipway refuses, with the reason in words they can act on.
export class DeploymentActionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DeploymentActionError";
  }
}
