#ifndef IDUNNO_MODEL_H
#define IDUNNO_MODEL_H
extern const char *const model_imagenet_classes[1000];
#endif
