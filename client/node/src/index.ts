export { credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";

export * from "./client.js";
export * from "./errors.js";
export * from "./gen/visionstudio/image/v1/image_service.js";
export { DEFAULT_REATTACH_ATTEMPTS, SHUTTING_DOWN } from "./reattach.js";
export { EventStream } from "./stream.js";
