// Entry point for tests that drive Slipway with webhooks: re-exports the per-function
// modules (sign-webhook, deliver-webhook and the payload builders).
export { commitCommentPayload } from "./commit-comment-payload.js";
export { deliverWebhook } from "./deliver-webhook.js";
export { issueCommentPayload } from "./issue-comment-payload.js";
export { pullRequestPayload } from "./pull-request-payload.js";
export { pushPayload } from "./push-payload.js";
export { signWebhook } from "./sign-webhook.js";
